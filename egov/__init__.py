"""Executable reference architecture of a Vietnamese provincial e-Government Architecture v1.0.

`egov.runtime` holds what every service shares (settings, logging, envelope, serde, topics, dead letters,
health); `egov.regulations` the pure rules taken from Vietnamese regulations; `egov.localkafka` the local
jar broker; `egov.cli` the `egov` console command. The services themselves live in the `services` package.
"""

__version__ = "0.1.0"
