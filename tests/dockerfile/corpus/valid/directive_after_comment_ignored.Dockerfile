# about this file
# escape=`
FROM debian
RUN echo \
 hi
