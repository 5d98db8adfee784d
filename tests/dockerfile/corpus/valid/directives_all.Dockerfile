# syntax=docker/dockerfile:1.7
# check=skip=JSONArgsRecommended
#ESCAPE = `
FROM debian
RUN echo `
  hi
