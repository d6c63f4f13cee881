"""The broker's ACLs, generated from the architecture model: the model is the access policy, with no second
hand-kept list (docs/adr/0010-broker-principals-and-acls.md).

For a topic prefix (a tenant, a test module) the expected set is, every binding ALLOW from any host:

- each service's principal (`<prefix>egov-<service>`): WRITE on each topic it owns, READ on each topic the
  model lets it read; READ on its consumer group (its Faust app id) and READ and WRITE on the topics under its
  app id (`<app id>-…`: its tables' changelogs, which the admin step creates). Nothing else: no CREATE, no
  DESCRIBE (READ and WRITE imply it), nothing on the cluster.
- each principal of the model's `principals` (`<prefix><id>`): acting as a service, what that service's topics
  give it, plus its own consumer groups and internal topics under its own name; reading all, READ on every
  modelled topic and DESCRIBE on every consumer group (what `egov arch observe` looks at); playing the
  counterparts of conformance roles (architecture/conformance-roles.yaml), WRITE on each topic a role reads,
  READ on each topic it writes and on its dead letters, and no group (the kit assigns itself partitions).
- `admin`, the broker's super user, needs none.

`compare` tells, for one prefix, which expected bindings the broker lacks and which it has that the model does
not give (an ACL added by hand).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from egov.runtime.credentials import service_principal
from egov.tools.architecture.model import ArchitectureModel
from egov.tools.architecture.roles import get_roles

TOPIC, GROUP = "TOPIC", "GROUP"
LITERAL, PREFIXED = "LITERAL", "PREFIXED"
READ, WRITE, CREATE, DESCRIBE = "READ", "WRITE", "CREATE", "DESCRIBE"


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW binding for any host."""

    principal: str
    resource: str
    pattern: str
    name: str
    operation: str

    def __str__(self) -> str:
        kind = "" if self.pattern == LITERAL else " (prefix)"
        return f"User:{self.principal} may {self.operation} {self.resource.lower()} {self.name}{kind}"


def external_principal(prefix: str, principal_id: str) -> str:
    return f"{prefix}{principal_id}"


def principals(model: ArchitectureModel, prefix: str) -> dict[str, str]:
    """Every principal of a prefix, by name: the services' and the model's external ones, with what each
    is."""
    found = {service_principal(prefix, s): f"service {s}" for s in sorted(_services(model))}
    for principal in model.principals:
        if principal.acts_as:
            what = f"acts as {principal.acts_as}"
        elif principal.counterpart_of:
            what = f"plays the counterparts of the roles {', '.join(principal.counterpart_of)}"
        else:
            what = "reads every topic"
        found[external_principal(prefix, principal.id)] = f"{principal.name_en} ({what})"
    return found


def _services(model: ArchitectureModel) -> set[str]:
    topics = {t.owner for t in model.topics} | {r for t in model.topics for r in t.readers}
    return model.services("implemented") | topics


def _topic_rights(model: ArchitectureModel, prefix: str, service: str, principal: str) -> set[Acl]:
    rights: set[Acl] = set()
    for topic in model.topics:
        name = f"{prefix}{topic.name}"
        if topic.owner == service:
            rights.add(Acl(principal, TOPIC, LITERAL, name, WRITE))
        if service in topic.readers:
            rights.add(Acl(principal, TOPIC, LITERAL, name, READ))
    return rights


def _counterpart_rights(prefix: str, principal: str, role_ids: Iterable[str]) -> set[Acl]:
    """What the counterparts of the roles need: write what each role reads, read what it writes."""
    rights: set[Acl] = set()
    for role_id in role_ids:
        role = get_roles().get(role_id)
        rights |= {Acl(principal, TOPIC, LITERAL, f"{prefix}{t.topic}", WRITE) for t in role.reads}
        rights |= {Acl(principal, TOPIC, LITERAL, f"{prefix}{t.topic}", READ) for t in role.writes}
        rights.add(Acl(principal, TOPIC, LITERAL, f"{prefix}{role.dead_letters}", READ))
    return rights


def expected_acls(model: ArchitectureModel, prefix: str) -> set[Acl]:
    """Every binding the model gives the principals of `prefix`."""
    acls: set[Acl] = set()
    for service in _services(model):
        principal = service_principal(prefix, service)
        acls |= _topic_rights(model, prefix, service, principal)
        acls.add(Acl(principal, GROUP, LITERAL, principal, READ))  # the app id is its group
        acls |= {Acl(principal, TOPIC, PREFIXED, f"{principal}-", op) for op in (READ, WRITE)}
    for party in model.principals:
        principal = external_principal(prefix, party.id)
        if party.acts_as is not None:
            acls |= _topic_rights(model, prefix, party.acts_as, principal)
            # its own consumer groups and internal topics, whatever its framework calls them
            acls.add(Acl(principal, GROUP, PREFIXED, principal, READ))
            acls |= {Acl(principal, TOPIC, PREFIXED, f"{principal}-", op) for op in (READ, WRITE, CREATE)}
        elif party.counterpart_of:
            acls |= _counterpart_rights(prefix, principal, party.counterpart_of)
        else:
            acls |= {Acl(principal, TOPIC, LITERAL, f"{prefix}{t.name}", READ) for t in model.topics}
            # any group, whatever its name: a rogue reader is found by the groups that read a topic
            acls.add(Acl(principal, GROUP, LITERAL, "*", DESCRIBE))
    return acls


@dataclass(frozen=True)
class AclDifferences:
    missing: list[Acl]
    extra: list[Acl]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra

    def lines(self) -> list[str]:
        return [f"missing: {acl}" for acl in self.missing] + [
            f"not in the model: {acl}" for acl in self.extra
        ]


def in_scope(acl: Acl, prefix: str, known: Iterable[str]) -> bool:
    """Whether a binding on the broker concerns this prefix: one of its principals', or on one of its
    resources (every binding when the prefix is empty)."""
    return not prefix or acl.principal in set(known) or acl.name.startswith(prefix)


def compare(model: ArchitectureModel, prefix: str, actual: Iterable[Acl]) -> AclDifferences:
    """What the broker lacks of the model's ACLs for `prefix`, and what it has that the model does not
    give."""
    expected = expected_acls(model, prefix)
    known = principals(model, prefix)
    have = {acl for acl in actual if in_scope(acl, prefix, known)}
    return AclDifferences(missing=sorted(expected - have), extra=sorted(have - expected))
