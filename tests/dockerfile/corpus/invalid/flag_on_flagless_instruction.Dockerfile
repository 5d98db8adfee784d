FROM debian
WORKDIR --foo /x
