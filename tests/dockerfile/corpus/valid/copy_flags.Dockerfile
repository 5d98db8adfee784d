FROM debian
COPY --chown=1000:1000 --chmod=0755 --link a b /dst/
COPY --parents --exclude=*.md --exclude=*.txt src/ /app/
COPY --link=false x /x
