"""What every service shares, written once: settings, logging, envelope, serde, topics, dead letters,
health, and the service wiring built on them."""
