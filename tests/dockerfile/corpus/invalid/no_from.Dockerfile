# comment
RUN echo
