"""Shared platform libraries the services and the tools build on, with no Kafka in them: the province as
data (`province`), X.509 certificates and CMS signatures (`pki`), the hash-chained audit log (`audit`) and
the fictional people of the population register stand-in (`people`)."""
