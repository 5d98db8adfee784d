FROM debian
LABEL a="b c
