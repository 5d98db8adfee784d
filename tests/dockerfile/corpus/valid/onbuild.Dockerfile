FROM debian
ONBUILD ADD . /app/src
ONBUILD RUN /usr/local/bin/python-build --dir /app/src
onbuild copy --from=x /a /b
