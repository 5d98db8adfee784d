# foo=bar
# escape=`
FROM debian
RUN a \
 b
