FROM debian
ADD ["onlyone"]
