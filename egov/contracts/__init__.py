"""The contracts toolkit: validation with the regulations' rules, JSON ↔ Avro conversion, golden examples,
the compatibility gate and the AsyncAPI document. The schemas themselves are in `contracts/schemas/`; the
wire format is `egov.runtime.serde`."""
