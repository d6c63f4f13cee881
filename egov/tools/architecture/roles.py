"""The roles of the conformance kit, loaded from `architecture/conformance-roles.yaml` and checked against the
architecture model and the topic registry.

A role is the place of one service of the model that a vendor's system takes (a department's case system
instead of the `agency` stand-in): the topics it reads and writes, the events on each, its rules with their
references, and the kit's named checks. The kit (egov/tools/conformance) drives a vendor's system from this
data, and the `conformance` principal's ACLs (egov/tools/architecture/acls.py) are what the counterparts of
these roles need: WRITE on what a role reads, READ on what it writes and on its dead letters.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from egov.contracts.topics import Topics, dead_letters
from egov.paths import ARCHITECTURE_DIR
from egov.tools.architecture.model import ArchitectureModel, get_model

ROLES_PATH = ARCHITECTURE_DIR / "conformance-roles.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RoleTopic(_Frozen):
    """A topic the role reads (written by `from_`) or writes (read by `to`), with the events the kit uses."""

    topic: str
    events: tuple[str, ...]
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class RoleRule(_Frozen):
    id: str
    text: str
    reference: str


class RoleCheck(_Frozen):
    id: str
    title: str
    rules: tuple[str, ...]


class Role(_Frozen):
    id: str
    name: str
    name_en: str
    replaces: str
    principal: str
    source: str
    reads: tuple[RoleTopic, ...]
    writes: tuple[RoleTopic, ...]
    dead_letters: str
    rules: tuple[RoleRule, ...]
    checks: tuple[RoleCheck, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Role:
        rule_ids = [r.id for r in self.rules]
        check_ids = [c.id for c in self.checks]
        for what, ids in (("rule", rule_ids), ("check", check_ids)):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"role {self.id}: {what} ids must be unique: {', '.join(duplicates)}")
        for check in self.checks:
            if not check.id.startswith(f"{self.id}."):
                raise ValueError(f"role {self.id}: check {check.id} must begin with '{self.id}.'")
            unknown = sorted(set(check.rules) - set(rule_ids))
            if unknown:
                raise ValueError(f"role {self.id}: check {check.id} names no rule {', '.join(unknown)}")
        unchecked = sorted(set(rule_ids) - {r for c in self.checks for r in c.rules})
        if unchecked:
            raise ValueError(f"role {self.id}: no check enforces rule(s) {', '.join(unchecked)}")
        return self

    def rule(self, rule_id: str) -> RoleRule:
        return next(r for r in self.rules if r.id == rule_id)

    def check(self, check_id: str) -> RoleCheck:
        return next(c for c in self.checks if c.id == check_id)

    def references(self, check_id: str) -> list[str]:
        """What the check enforces: the references of its rules."""
        return [self.rule(r).reference for r in self.check(check_id).rules]


class Roles(_Frozen):
    roles: tuple[Role, ...]

    def get(self, role_id: str) -> Role:
        found = next((r for r in self.roles if r.id == role_id), None)
        if found is None:
            known = ", ".join(r.id for r in self.roles)
            raise KeyError(f"no conformance role {role_id!r}; the roles are {known}")
        return found

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.roles]


def problems(roles: Roles, model: ArchitectureModel) -> list[str]:
    """Where the roles disagree with the architecture model or the topic registry (empty when they agree)."""
    found: list[str] = []
    registry = {spec.name: spec for spec in Topics.all()}
    principals = {p.id: p for p in model.principals}
    for party in model.principals:
        unknown = sorted(set(party.counterpart_of) - set(roles.ids))
        if unknown:
            found.append(f"principal {party.id} plays the counterparts of no role {', '.join(unknown)}")
    for role in roles.roles:
        where = f"role {role.id}"
        if role.replaces not in model.services("implemented"):
            found.append(f"{where}: replaces {role.replaces}, which is no implemented service of the model")
        principal = principals.get(role.principal)
        if principal is None or principal.acts_as != role.replaces:
            found.append(
                f"{where}: principal {role.principal} is no principal of the model acting as {role.replaces}"
            )
        if role.source != f"/egov/{role.replaces}":
            found.append(
                f"{where}: source {role.source} is not that of {role.replaces} (/egov/{role.replaces})"
            )
        for side, topics in (("reads", role.reads), ("writes", role.writes)):
            for entry in topics:
                topic = model.topic(entry.topic)
                spec = registry.get(entry.topic)
                if topic is None or spec is None:
                    found.append(
                        f"{where}: {side} {entry.topic}, which is not a topic of the model and registry"
                    )
                    continue
                if side == "reads" and (role.replaces not in topic.readers or topic.owner != entry.from_):
                    found.append(
                        f"{where}: the model does not let {role.replaces} read {entry.topic} from "
                        f"{entry.from_}"
                    )
                if side == "writes" and (topic.owner != role.replaces or entry.to not in topic.readers):
                    found.append(
                        f"{where}: the model does not let {role.replaces} write {entry.topic} for {entry.to}"
                    )
                stray = sorted(set(entry.events) - set(spec.events))
                if stray:
                    found.append(f"{where}: {entry.topic} carries no {', '.join(stray)}")
        if role.dead_letters != dead_letters(role.replaces).name:
            found.append(f"{where}: dead letters {role.dead_letters} are not those of {role.replaces}")
    return found


def read_roles(path: Path = ROLES_PATH) -> Roles:
    """The roles of `path` as written, each consistent in itself (not yet checked against the model)."""
    return Roles.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def load_roles(path: Path = ROLES_PATH, model: ArchitectureModel | None = None) -> Roles:
    """The roles of `path`, checked against the model; ValueError naming every disagreement."""
    roles = read_roles(path)
    disagreements = problems(roles, model or get_model())
    if disagreements:
        raise ValueError(f"{path.name} disagrees with the architecture model: " + "; ".join(disagreements))
    return roles


@lru_cache(maxsize=1)
def get_roles() -> Roles:
    return load_roles()
