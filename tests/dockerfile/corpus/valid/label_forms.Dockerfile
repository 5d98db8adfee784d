FROM debian
LABEL "com.example.vendor"="ACME Incorporated"
LABEL version=1.0 description="This text \
  spans lines"
LABEL multi.label1="value1" multi.label2="value2" other="value3"
