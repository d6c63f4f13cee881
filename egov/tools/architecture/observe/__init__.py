"""`egov arch observe`: does the live traffic still conform to the architecture model?

`egov arch verify` checks what the code declares; a broker also carries what nobody declared: a script that
writes to a topic it does not own, a reporting job that reads dossiers under its own consumer group, a
service that was never deployed so its flow is silent. `observe` looks at a running broker and compares what
it sees with `architecture/model.yaml`:

- **consumers**: every consumer group is read from the broker, and a group *reads* a topic when a current
  member is assigned one of its partitions (DescribeGroups, the members' `member_assignment` decoded as the
  consumer protocol's assignment) **or** the group has a committed offset on it (OffsetFetch). Both are
  needed: the assignment shows who reads now (a Faust worker between commits, a reader that never commits),
  the committed offsets show who has read and will resume (a stopped job, or a group using the new consumer
  protocol, which DescribeGroups does not describe). Only the modelled topics under the settings' topic
  prefix count; a group that reads none of them is none of our business and is not reported, whatever its
  name. So a reader that has left its group and committed nothing (the test helpers' `test-reader-…`
  groups, `kafka-console-consumer`) leaves no trace; while it is connected it is reported like any other.
  A group maps to a service when its id is `<prefix>egov-<service>` (or `egov-<service>`), the Faust app id
  of that service (`egov.runtime.service`); a group reading a topic whose readers in the model do not
  include its service (or that maps to no service) is a **rogue consumer**.
- **producers**: the latest `sample_per_partition` records of each partition of each modelled topic are
  read without a consumer group (assigned partitions, nothing committed) and only their headers are looked
  at. The writer of a record is its `egov_writer` header (stamped by `Service.send_raw`), else the service
  named by its `ce_source` (`/egov/<service>`), else `unknown`; a writer that is not the topic's owner is a
  **rogue producer**; a `ce_type` that is not among the topic's event types in `egov.contracts.topics` is an
  **unexpected event type**.
- **flows**: a step of an *implemented* flow whose topic shows no sampled record of the step's event type
  written by the step's service saw **no traffic** (only the sampled window counts: an old event that has
  scrolled out of the latest records is not seen).
- a modelled topic missing on the broker is reported too; topics outside the model (Faust's changelog and
  assignor topics, other tenants' topics) are ignored.

Names in the findings are the model's, without the prefix (which the summary states). Gathering (`observe`)
is separate from judging (`analyse`, a pure function of the model and a `BrokerSnapshot`), so the rules can
be tested without a broker. Any finding makes the command exit 1.
"""

from egov.tools.architecture.observe.command import arch_observe_command
from egov.tools.architecture.observe.findings import (
    BrokerSnapshot,
    ObservationReport,
    SampledRecord,
    analyse,
    service_of_group,
    service_of_source,
)
from egov.tools.architecture.observe.gathering import observe

__all__ = [
    "BrokerSnapshot",
    "ObservationReport",
    "SampledRecord",
    "analyse",
    "arch_observe_command",
    "observe",
    "service_of_group",
    "service_of_source",
]
