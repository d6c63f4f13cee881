"""Faults under load, and throughput, on a real broker (`egov chaos run`, `egov chaos scaling`, `make
chaos`; docs/adr/0016).

A run starts its own broker (one node, or a three-node KRaft cluster) in a throw-away folder on free ports,
the identity provider (the local stack's, started if none runs), and every service (one or more workers
each) on a fresh topic prefix; citizens then submit dossiers through the portal at a steady rate while the
faults of a plan strike:

- `services` (the default): each service in turn, one worker at a time, is killed with SIGKILL and
  restarted at once; then the broker: the only one, restarted at once, or on a cluster the node leading the
  busiest partitions, down for a while;
- `cluster`: that broker node first; then one worker of every service is killed with SIGKILL, the others
  take over its partitions, and the killed ones come back later.

What the services wrote is read back from the topics as the operator's tools read them: every dossier must
reach its expected final state (RESULT_RETURNED), no dossier code may be issued twice, no citizen may get the
same notice twice, no record may be dead-lettered; the figures (submitted, completed, lost, duplicates, the
longest stall of the topics written steadily, in total and after each fault) are printed. `scaling`
measures how many dossiers a second get from the portal's POST to their assignment to a department, with
one worker per service and with more.

Modules: `load` (the citizens and their submissions), `watch` (what the topics show), `rig` (the broker, the
identity provider and the workers of one run, and the faults), `run` (the plans and their figures).
"""
