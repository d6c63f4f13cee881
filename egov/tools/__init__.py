"""What a person runs, above the services: the `egov` command (`cli`), the demo, the stack of service
processes, the local jar broker, dossier traces, sample data, the vendors' contracts toolkit and the
architecture checks. Tools reach the services only through the broker, their HTTP APIs and the model."""
