  FROM debian
    RUN echo indented
