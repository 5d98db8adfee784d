FROM debian
HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms --retries=3 CMD curl -f http://localhost/ || exit 1
HEALTHCHECK CMD ["/bin/check"]
HEALTHCHECK NONE
