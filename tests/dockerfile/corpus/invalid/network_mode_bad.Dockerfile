FROM debian
RUN --network=bridge curl x
