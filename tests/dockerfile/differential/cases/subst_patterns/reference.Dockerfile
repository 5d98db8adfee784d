FROM difftest/busybox
ENV FOO=abc.def.ghi
ENV A=abc B=def.ghi C=ghi D=abc.def E=abc.def.ghi F=abc.def.
