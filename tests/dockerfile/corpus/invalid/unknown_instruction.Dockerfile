FROM debian
RUNN echo
