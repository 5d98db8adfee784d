FROM debian
RUN ["/bin/bash", "-c", "echo hello"]
RUN [ "echo", "spaced" ]
