"""Executable reference architecture of a Vietnamese provincial e-Government Architecture v1.0.

Floors, each importing only the ones below it (an import-layer check in the tests keeps it so):

- `egov.tools`: what a person runs (the `egov` command, the demo, the stack, the local broker, traces, the
  vendors' contracts toolkit, the architecture checks); above the services, which it reaches only through
  the broker, the HTTP APIs and the model.
- `services`: one package per service of the architecture.
- `egov.runtime`: what every service shares (the Service wiring on Faust, settings, logging, dead letters,
  idempotency, timers, health, HTTP answers).
- `egov.platform`: shared platform libraries (the province as data, signatures, the audit log, the
  fictional people).
- `egov.contracts`: what travels on the wire (Avro serde, the CloudEvents envelope, the topic registry,
  validation with the regulations' rules, the error body).
- `egov.regulations`: pure rules taken from Vietnamese regulations.
"""

__version__ = "0.1.0"
