FROM debian AT builder
