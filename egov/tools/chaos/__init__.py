"""Faults under load, and throughput, on a real broker (`egov chaos run`, `egov chaos scaling`, `make
chaos`).

A run starts its own broker (one node, or a three-node KRaft cluster) in a throw-away folder on free ports,
the identity provider, and every service (one or more workers each) on a fresh topic prefix; citizens then
submit dossiers through the portal at a steady rate while the faults of a plan strike (docs/adr/0016):

- `cluster`: the broker leading the busiest partitions is killed with SIGKILL and later restarted; then one
  worker of every service is killed with SIGKILL, the others take over, and the killed ones come back;
- `services`: each service in turn is killed with SIGKILL and restarted, then the broker.

What the services wrote is read back from the topics as the operator's tools read them: every dossier must
reach its expected final state (RESULT_RETURNED), no dossier code may be issued twice, no citizen may get the
same notice twice; the figures (submitted, completed, duplicates, the longest stall of each topic and after
each fault) are printed. `scaling` measures how many dossiers a second get from the portal's POST to their
assignment to a department, with one worker per service and with more.

Modules: `load` (the citizens and their submissions), `watch` (what the topics show), `rig` (the broker, the
identity provider and the workers of one run, and the faults), `run` (the plans and their figures).
"""
