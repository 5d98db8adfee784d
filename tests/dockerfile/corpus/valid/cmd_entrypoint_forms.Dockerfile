FROM debian
CMD echo shell form
CMD ["exec", "form"]
CMD []
ENTRYPOINT ["/bin/app", "--flag"]
ENTRYPOINT exec top -b
