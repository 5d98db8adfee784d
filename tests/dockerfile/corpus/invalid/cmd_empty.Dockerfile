FROM debian
CMD
