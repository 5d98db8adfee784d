FrOm debian:12
RuN true
EnTrYpOiNt ["/bin/true"]
