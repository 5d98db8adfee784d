FROM debian
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.invalid/a.tar.gz /
ADD --keep-git-dir=true https://example.invalid/repo.git#v1 /src
ADD --chown=1:1 --chmod=644 archive.tar.xz /opt/
