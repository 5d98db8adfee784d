FROM debian
ENV A=1 B="two words" C='single $q' D=e\ f
ENV LEGACY value with spaces
ENV EMPTY=
