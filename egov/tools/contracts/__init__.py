"""The vendors' contracts toolkit (`egov contracts …`): validation of a payload file with field-level errors,
JSON ↔ Avro conversion, golden examples, the compatibility gate and the AsyncAPI document."""
