FROM debian
VOLUME [""]
