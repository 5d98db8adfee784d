FROM debian
ARG A=1 B C="x y"
