FROM debian extra
