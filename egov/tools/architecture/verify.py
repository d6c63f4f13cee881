"""`egov arch verify`: does the code still conform to the architecture model?

It compares `architecture/model.yaml` with what the code really does: the services' wiring as their Faust
apps declare it (`Service.consumes` / `Service.produces`, introspected by importing each
`services/<name>/app.py`, never a hand-kept list), the topic registry and the Avro contracts. Every
violation is one precise line; any violation makes the command exit non-zero. It runs in the test suite.

`verify` itself is a pure function of the model, the wiring, the registry and the contracts, so the tests can
hand it a mutated model or wiring and see each check fire.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click

from egov.contracts.serde import ContractRegistry, get_registry
from egov.contracts.topics import TopicSpec
from egov.paths import REPO_ROOT
from egov.tools.architecture.model import ArchitectureModel, get_model
from egov.tools.architecture.roles import ROLES_PATH, problems, read_roles
from services import all_topics

#: Event types that are the platform's own, not part of any business flow.
OPERATIONS_NAMESPACE = "vn.egov.ops."


@dataclass(frozen=True)
class Wiring:
    """What one service's code reads and writes (topic names, without the run-time prefix)."""

    consumes: frozenset[str]
    produces: frozenset[str]


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, rule: str, message: str) -> None:
        self.violations.append(Violation(rule, message))


def collect_wiring() -> dict[str, Wiring]:
    """Each service's topics as its Faust wiring declares them (importing connects to nothing)."""
    from services import load_services

    return {
        name: Wiring(
            consumes=frozenset(t.name for t in service.consumes),
            produces=frozenset(t.name for t in service.produces),
        )
        for name, service in load_services().items()
    }


def verify(
    model: ArchitectureModel,
    wiring: Mapping[str, Wiring],
    topics: Iterable[TopicSpec],
    contracts: ContractRegistry,
    repo_root: Path = REPO_ROOT,
) -> Report:
    """Every way the code and the model disagree."""
    report = Report()
    registry = {t.name: t for t in topics}
    _check_components(model, wiring, report)
    _check_topics(model, wiring, registry, contracts, report)
    _check_layer_rules(model, report)
    _check_flows(model, wiring, registry, contracts, repo_root, report)
    _check_conformance_roles(model, report)
    return report


def _check_conformance_roles(model: ArchitectureModel, report: Report) -> None:
    """The vendors' roles of the conformance kit still fit the model: a topic renamed, a reader removed or a
    principal gone in the model would leave the kit testing a role the architecture no longer has."""
    try:
        roles = read_roles()
    except (OSError, ValueError) as exc:
        report.add("conformance-roles", f"{ROLES_PATH.name}: {exc}")
        return
    for problem in problems(roles, model):
        report.add("conformance-roles", problem)


# -- components and services --------------------------------------------------------------------------------
def _check_components(model: ArchitectureModel, wiring: Mapping[str, Wiring], report: Report) -> None:
    implemented = model.services("implemented")
    for service in sorted(set(wiring) - model.services()):
        report.add(
            "components", f"service {service} exists in services/ but no component of the model names it"
        )
    for component in model.components():
        if component.status == "implemented" and component.service not in wiring:
            report.add(
                "components",
                f"component {component.id} is implemented by service {component.service}, "
                "which does not exist in services/",
            )
        if component.status == "planned" and component.service in wiring:
            report.add(
                "components",
                f"component {component.id} is planned but service {component.service} exists: "
                "mark it implemented",
            )
    for component in model.components():
        if component.status == "planned" and component.service not in implemented:
            report.notices.append(f"planned: {component.id} ({component.service}) has no service yet")


# -- topics: ownership, readers, contracts ------------------------------------------------------------------
def _check_topics(
    model: ArchitectureModel,
    wiring: Mapping[str, Wiring],
    registry: Mapping[str, TopicSpec],
    contracts: ContractRegistry,
    report: Report,
) -> None:
    modelled = {t.name: t for t in model.topics}
    for name in sorted(set(registry) - set(modelled)):
        report.add("topic-has-contract", f"topic {name} is in the topic registry but not in the model")
    for name in sorted(set(modelled) - set(registry)):
        report.add("topic-has-contract", f"modelled topic {name} is not in the topic registry")
    for name, topic in sorted(modelled.items()):
        spec = registry.get(name)
        if spec is not None and spec.owner != topic.owner:
            report.add(
                "single-writer",
                f"topic {name}: the model's owner is {topic.owner}, the registry's {spec.owner}",
            )
        if spec is not None:
            if not spec.events:
                report.add("topic-has-contract", f"topic {name} has no contract")
            for event in spec.events:
                if event not in contracts.contracts:
                    report.add("topic-has-contract", f"topic {name} carries {event}, which has no contract")

    for name in sorted(modelled):
        writers = sorted(s for s, w in wiring.items() if name in w.produces)
        if len(writers) > 1:
            report.add("single-writer", f"topic {name} has {len(writers)} writers: {', '.join(writers)}")
    for service, used in sorted(wiring.items()):
        for name in sorted(used.produces):
            written = modelled.get(name)
            if written is None:
                report.add("wiring", f"service {service} writes {name}, a topic the model does not have")
            elif written.owner != service:
                report.add(
                    "single-writer",
                    f"service {service} writes {name}, which the model gives to {written.owner} alone",
                )
        for name in sorted(used.consumes):
            read = modelled.get(name)
            if read is None:
                report.add("wiring", f"service {service} reads {name}, a topic the model does not have")
            elif service not in read.readers:
                allowed = ", ".join(read.readers) or "no service"
                report.add(
                    "wiring",
                    f"service {service} reads {name}, which the model does not give it (readers: {allowed})",
                )
    known_services = model.services()
    for name, topic in sorted(modelled.items()):
        if topic.owner not in known_services:
            report.add("wiring", f"topic {name}: owner {topic.owner} is not a service of the model")
        for reader in topic.readers:
            if reader not in known_services:
                report.add("wiring", f"topic {name}: reader {reader} is not a service of the model")
            if reader in wiring and name not in wiring[reader].consumes:
                report.add("wiring", f"the model says {reader} reads {name}, but its wiring does not")
        if topic.owner in wiring and name not in wiring[topic.owner].produces:
            report.add("wiring", f"the model gives {name} to {topic.owner}, but its wiring does not write it")

    flow_events = {step.event for flow in model.flows for step in flow.steps}
    for service, used in sorted(wiring.items()):
        for name in sorted(used.consumes | used.produces):
            for event in registry[name].events if name in registry else ():
                if event not in flow_events and not event.startswith(OPERATIONS_NAMESPACE):
                    report.add(
                        "topic-has-contract",
                        f"service {service} uses {event} on {name}, but no flow of the model has that event",
                    )


# -- layer rules --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Edge:
    """A writer sending to a reader: on a modelled topic, or in one step of a flow."""

    writer: str
    reader: str
    carries: str  # the topic, or the step's event
    step: str | None = None  # "flow F step N" when the edge is a flow step

    @property
    def prefix(self) -> str:
        return f"{self.step}: " if self.step else ""

    @property
    def arrow(self) -> str:
        """`w → r on topic` for a topic, `flow F step N: w → r` for a step."""
        on = "" if self.step else f" on {self.carries}"
        return f"{self.prefix}{self.writer} → {self.reader}{on}"


def _edges(model: ArchitectureModel) -> list[_Edge]:
    """Every modelled topic and every flow step (planned flows too), a service sending to itself left out."""
    topics = [_Edge(t.owner, r, t.name) for t in model.topics for r in t.readers if r != t.owner]
    steps = [
        _Edge(step.from_, r, step.event, f"flow {flow.id} step {number}")
        for flow in model.flows
        for number, step in enumerate(flow.steps, start=1)
        for r in step.to
        if r != step.from_
    ]
    return topics + steps


def _check_layer_rules(model: ArchitectureModel, report: Report) -> None:
    for edge in _edges(model):
        _check_edge(model, edge, report)


def _check_edge(model: ArchitectureModel, edge: _Edge, report: Report) -> None:
    """The layer rules for one edge; a service belongs to every layer where it implements a component."""
    lgsp = model.rule("through-lgsp")
    if lgsp is not None and lgsp.via:

        def separated(service: str) -> bool:
            in_layer = not model.layers_of(service).isdisjoint(lgsp.separated_layers)
            return in_layer or any(c.id in lgsp.separated_components for c in model.components_of(service))

        observer = not model.layers_of(edge.reader).isdisjoint(lgsp.observer_layers)
        if (
            not observer
            and (separated(edge.writer) or separated(edge.reader))
            and lgsp.via not in (edge.writer, edge.reader)
        ):
            report.add("through-lgsp", f"{edge.arrow} bypasses the {lgsp.via.upper()}: {lgsp.text}")
    data = model.rule("access-channels-not-data")
    if data is not None:
        reader_layer = next((i for i in data.reader_layers if i in model.layers_of(edge.reader)), None)
        writer_layer = next(
            (i for i in data.forbidden_owner_layers if i in model.layers_of(edge.writer)), None
        )
        if reader_layer is not None and writer_layer is not None:
            report.add(
                "access-channels-not-data",
                f"{edge.prefix}{edge.reader} ({reader_layer}) reads {edge.carries} of {edge.writer} "
                f"({writer_layer}): {data.text}",
            )


# -- flows --------------------------------------------------------------------------------------------------
def _check_flows(
    model: ArchitectureModel,
    wiring: Mapping[str, Wiring],
    registry: Mapping[str, TopicSpec],
    contracts: ContractRegistry,
    repo_root: Path,
    report: Report,
) -> None:
    known_services = model.services()
    for flow in model.flows:
        for number, step in enumerate(flow.steps, start=1):
            where = f"flow {flow.id} step {number}"
            if step.event not in contracts.contracts:
                report.add("flows", f"{where}: event {step.event} has no contract")
            elif not contracts.contracts[step.event].is_event:
                report.add("flows", f"{where}: {step.event} is not an event type")
            for service in (step.from_, *step.to):
                if service not in known_services:
                    report.add("flows", f"{where}: service {service} is not in the model")
            if flow.status != "implemented" or step.topic is None:
                continue
            spec = registry.get(step.topic)
            if spec is None:
                report.add("flows", f"{where}: topic {step.topic} is not in the topic registry")
                continue
            if step.event not in spec.events:
                report.add("flows", f"{where}: {step.topic} does not carry {step.event}")
            if step.topic not in wiring.get(step.from_, Wiring(frozenset(), frozenset())).produces:
                report.add("flows", f"{where}: {step.from_} does not produce {step.topic}")
            for reader in step.to:
                if step.topic not in wiring.get(reader, Wiring(frozenset(), frozenset())).consumes:
                    report.add("flows", f"{where}: {reader} does not consume {step.topic}")
        if flow.status == "implemented" and not _test_exists(repo_root, flow.covered_by or ""):
            report.add(
                "flows", f"flow {flow.id}: no end-to-end test covers it ({flow.covered_by} does not exist)"
            )


def _test_exists(repo_root: Path, node_id: str) -> bool:
    """Whether `path::test_name` names a test function in the repository."""
    path, _, name = node_id.partition("::")
    file = repo_root / path
    if not name or not file.is_file():
        return False
    tree = ast.parse(file.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name for node in tree.body
    )


# -- command ------------------------------------------------------------------------------------------------
@click.command("verify")
def arch_verify_command() -> None:
    """Check the code against architecture/model.yaml; exit 1 on any violation."""
    model = get_model()
    report = verify(model, collect_wiring(), all_topics(), get_registry())
    for notice in report.notices:
        click.echo(f"notice: {notice}")
    for violation in report.violations:
        click.echo(f"violation: {violation}", err=True)
    if not report.ok:
        raise SystemExit(1)
    click.echo(
        f"{model.name_en}: {len(model.components())} components, {len(model.topics)} topics and "
        f"{len(model.flows)} flows conform to the code"
    )
