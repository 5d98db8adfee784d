# leading comment

   # indented comment
FROM debian

# between
RUN true
   
