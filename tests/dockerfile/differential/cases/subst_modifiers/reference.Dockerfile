FROM difftest/busybox
ARG UNSET
ARG EMPTY=""
ARG SET=value
ENV A=dflt B=dflt C= D=dflt
ENV E=alt F= G=alt H=
ENV I=valuevalue J='${SET}' K=\$SET L=value
