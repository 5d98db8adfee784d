FROM debian
COPY ["a file.txt", "b", "/dest dir/"]
