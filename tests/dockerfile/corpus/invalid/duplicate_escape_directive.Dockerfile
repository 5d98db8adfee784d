# escape=`
# escape=\
FROM debian
