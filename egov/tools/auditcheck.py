"""`egov audit verify`: the audit log checked (egov.platform.audit_verify), and compared with the broker the
audit reads, as the audit's own principal (its consumer group's offsets are the audit's to read; in a
container, its password is the only one there).

The order of the questions matters (see egov.platform.audit_verify): the audit's committed offsets first,
then the log, then the broker's topics and offsets, so that records the audit logs meanwhile are never taken
for records it passed without logging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from egov.contracts.envelope import APP_ID_PREFIX
from egov.platform.audit_verify import BrokerPartition, Gap, Verification, compare, verify
from egov.runtime.brokerview import BrokerView
from egov.runtime.credentials import service_principal
from egov.runtime.settings import Settings
from services import all_topics


@dataclass(frozen=True)
class AuditCheck:
    verification: Verification
    #: None when the broker was not asked (--no-broker).
    gaps: list[Gap] | None = None
    #: Partitions compared with the broker, and the cluster they are on.
    compared: int = 0
    clusters: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verification.ok and not any(g.fails for g in self.gaps or ())


def check_audit_log(
    folder: Path, settings: Settings | None, *, public_key_file: Path | None = None
) -> AuditCheck:
    """The log in `folder` checked, and compared with the broker of `settings` (None: the log alone).
    BrokerViewError when the broker does not answer."""
    public_key = None
    if public_key_file is not None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        loaded = serialization.load_pem_public_key(public_key_file.read_bytes())
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError(f"{public_key_file} is not an Ed25519 public key")
        public_key = loaded
    if settings is None:
        return AuditCheck(verify(folder, public_key))
    prefix = settings.topic_prefix
    principal = settings.kafka_principal or service_principal(prefix, "audit")
    view = BrokerView(settings, principal=principal, client_id=f"{principal}-verify")
    committed = {
        (topic.removeprefix(prefix), partition): offset
        for (topic, partition), offset in view.committed(f"{prefix}{APP_ID_PREFIX}audit").items()
    }
    verification = verify(folder, public_key)
    topics = view.topics(spec.full_name(prefix) for spec in all_topics())
    offsets = view.offsets((name, p) for name, (_, partitions) in topics.items() for p in partitions)
    held = [
        BrokerPartition(name.removeprefix(prefix), partition, identity, *offsets[(name, partition)])
        for name, (identity, partitions) in topics.items()
        for partition in partitions
    ]
    clusters = sorted({str(identity.cluster_id) for identity, _ in topics.values()})
    return AuditCheck(verification, compare(verification, held, committed), len(held), clusters)
