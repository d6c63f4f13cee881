"""What travels on the wire, below the runtime: the Avro contracts and their single-object encoding
(`serde`), the CloudEvents envelope in Kafka headers (`envelope`), the topic registry (`topics`), the
validation of payloads with the regulations' rules (`validation`) and the error body every HTTP API answers a
refused request with (`errors`). The schemas themselves are in `contracts/schemas/`; the vendors' toolkit
built on this is `egov.tools.contracts`."""
