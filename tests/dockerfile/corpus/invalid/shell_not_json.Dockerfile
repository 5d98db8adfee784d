FROM debian
SHELL /bin/sh -c
