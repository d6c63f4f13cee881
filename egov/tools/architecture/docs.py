"""The architecture document, `architecture/README.md`, generated from the model and the code.

Architects, reviewers and vendors read the architecture as pictures and tables, not as YAML and Python. A
document drawn by hand drifts from both within weeks; so this one is rendered from the same sources the
checks and the services use — the model (`architecture/model.yaml`), the services' actual Faust wiring
(`services.<name>.app.build`), the topic registry (`egov.contracts.topics`), the Avro contracts
(`egov.contracts.serde`) and the province's catalogue (`egov.platform.province`) — in Markdown with
Mermaid diagrams, which GitHub renders. `egov arch docs` writes it; `--check` (and a unit test) fails when
the committed document is stale. The output is deterministic: no timestamps, everything in a stable order.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from egov.contracts.serde import ContractRegistry, get_registry
from egov.contracts.topics import TopicSpec
from egov.paths import ARCHITECTURE_DIR, PROVINCES_DIR, REPO_ROOT
from egov.platform.province import Province, get_province, load_province
from egov.tools.architecture import legal
from egov.tools.architecture.acls import expected_acls, principals
from egov.tools.architecture.model import ArchitectureModel, Flow, Status, get_model
from egov.tools.architecture.roles import get_roles
from egov.tools.contracts.asyncapi import events_of, message_name
from egov.tools.generated import shown, write_or_check
from services import all_topics

if TYPE_CHECKING:
    pass

DOCUMENT_PATH = ARCHITECTURE_DIR / "README.md"
MODEL_SOURCE = "architecture/model.yaml"

#: What each component status means, and how the layered view draws it.
STATUS_MEANINGS: dict[Status, str] = {
    "implemented": "a service of `services/` implements it",
    "planned": "on the roadmap: the service is named, not written yet",
    "external": "outside the province's systems (people, national platforms, infrastructure)",
    "out-of-scope": "part of the architecture that this reference implementation does not model",
}
STATUS_STYLES: dict[Status, str] = {
    "implemented": "fill:#d4edda,stroke:#1e7e34,color:#155724",
    "planned": "fill:#fff3cd,stroke:#b8860b,color:#856404,stroke-dasharray:5 3",
    "external": "fill:#e2e3e5,stroke:#6c757d,color:#383d41",
    "out-of-scope": "fill:#ffffff,stroke:#adb5bd,color:#6c757d,stroke-dasharray:2 2",
}
TOPIC_STYLE = "fill:#e7f1ff,stroke:#0b5ed7,color:#084298"


# -- inputs ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wiring:
    """What a service actually reads and writes, as its Faust app declares it."""

    service: str
    port: int
    consumes: tuple[TopicSpec, ...]
    produces: tuple[TopicSpec, ...]


def service_wiring() -> list[Wiring]:
    """Every service of `services.SERVICES`, in its order, with the topics it consumes and produces.

    Importing an app builds its Faust app without connecting to Kafka.
    """
    from services import SERVICES, load_services

    return [
        Wiring(name, SERVICES[name].port, _by_name(service.consumes), _by_name(service.produces))
        for name, service in load_services().items()
    ]


def _by_name(specs: Iterable[TopicSpec]) -> tuple[TopicSpec, ...]:
    return tuple(sorted(specs, key=lambda spec: spec.name))


# -- text helpers ---------------------------------------------------------------------------------------
def mermaid_id(kind: str, name: str) -> str:
    """A Mermaid node id: `kind_` and the name with everything but letters, digits and `_` replaced
    (`topic`, `egov.portal.dead-letters.v1` → `topic_egov_portal_dead_letters_v1`). The prefix keeps
    services, topics and components apart and never lets a name be a Mermaid keyword such as `end`."""
    return f"{kind}_{re.sub(r'[^0-9A-Za-z_]', '_', name)}"


def _label(*lines: str) -> str:
    """A quoted Mermaid label of one or more lines, with the characters Mermaid would misread escaped."""
    escaped = (line.replace('"', "#quot;").replace(";", "#59;") for line in lines)
    return '"' + "<br/>".join(escaped) + '"'


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, on one line."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_cell(cell) for cell in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *(line(row) for row in rows)]


def _mermaid(lines: Iterable[str]) -> list[str]:
    return ["```mermaid", *lines, "```"]


def format_fee(fee_vnd: int) -> str:
    """`135000` → `135.000 ₫` (Vietnamese thousands separator); `0` → `miễn phí`."""
    return f"{fee_vnd:,} ₫".replace(",", ".") if fee_vnd else "miễn phí"


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _status_classes(indent: str) -> list[str]:
    return [f"{indent}classDef {mermaid_id('s', status)} {style}" for status, style in STATUS_STYLES.items()]


# -- sections -------------------------------------------------------------------------------------------
def _header(model: ArchitectureModel) -> list[str]:
    return [
        f"# {model.name_en}",
        "",
        f"*{model.name}*",
        "",
        f"Source: approved by {model.approved_by}; built on the {model.framework}.",
        "",
        f"> Generated by `egov arch docs` from `{MODEL_SOURCE}` and the code (the services' wiring, the "
        "topic registry, the Avro contracts and the province's catalogue): do not edit by hand. A unit test "
        "fails when it is stale; `egov arch verify` checks the model against the code.",
        "",
        "Component status:",
        "",
        *(f"- **{status}**: {meaning}." for status, meaning in STATUS_MEANINGS.items()),
        "",
        "Contents: [layered view](#layered-view) · [container view](#container-view) · [flows](#flows) · "
        "[services](#services) · [topics](#topics) · [event contracts](#event-contracts) · "
        "[components](#components) · [rules](#rules) · [procedures](#procedures)",
    ]


def _layered_view(model: ArchitectureModel) -> list[str]:
    lines = ["flowchart TB"]
    for layer in model.layers:
        lines.append(
            f"    subgraph {mermaid_id('layer', layer.id)}[{_label(f'{layer.name} — {layer.name_en}')}]"
        )
        lines.append("        direction LR")
        for c in layer.components:
            detail = f"{c.status} · {c.service}" if c.service else c.status
            node = f"{mermaid_id('component', c.id)}[{_label(c.name_en, detail)}]"
            lines.append(f"        {node}:::{mermaid_id('s', c.status)}")
        lines.append("    end")
    layer_ids = [mermaid_id("layer", layer.id) for layer in model.layers]
    lines += [f"    {upper} ~~~ {lower}" for upper, lower in itertools.pairwise(layer_ids)]
    return [
        "## Layered view",
        "",
        "The layers of the MIC framework as the province's v1.0 uses them, top to bottom, with each "
        "component's status and the service that implements it (or will).",
        "",
        *_mermaid([*lines, *_status_classes("    ")]),
    ]


def _container_view(model: ArchitectureModel, topics: dict[str, TopicSpec]) -> list[str]:
    implemented = model.services("implemented")
    touching = {t.owner for t in model.topics} | {r for t in model.topics for r in t.readers}
    services = [
        *dict.fromkeys(c.service for c in model.components() if c.service in implemented),
        *sorted(touching - implemented),
    ]
    lines = ["flowchart LR"]
    for service in services:
        names = ", ".join(c.name_en for c in model.components_of(service))
        status = "implemented" if service in implemented else "planned"
        lines.append(
            f"    {mermaid_id('service', service)}({_label(service, names)}):::{mermaid_id('s', status)}"
        )
    for topic in model.topics:
        spec = topics.get(topic.name)
        detail = (
            f"key {spec.key_description}" + (" · internal" if spec.internal else "")
            if spec
            else "not in the registry"
        )
        lines.append(f"    {mermaid_id('topic', topic.name)}[({_label(topic.name, detail)})]:::topic")
    for topic in model.topics:
        lines.append(f"    {mermaid_id('service', topic.owner)} --> {mermaid_id('topic', topic.name)}")
        lines += [
            f"    {mermaid_id('topic', topic.name)} --> {mermaid_id('service', r)}" for r in topic.readers
        ]
    return [
        "## Container view",
        "",
        "The implemented services and the model's topics: an arrow into a topic from its owner (its only "
        "writer), an arrow out of it to each reader.",
        "",
        *_mermaid([*lines, *_status_classes("    "), f"    classDef topic {TOPIC_STYLE}"]),
    ]


def _flows(model: ArchitectureModel) -> list[str]:
    lines = ["## Flows", "", "Each flow of the model as the events its services exchange, step by step."]
    for flow in model.flows:
        covered = _code(flow.covered_by) if flow.covered_by else "none yet"
        lines += [
            "",
            f"### {flow.name} — {flow.name_en}",
            "",
            f"Flow `{flow.id}`, status **{flow.status}**; end-to-end test: {covered}.",
            "",
            *_mermaid(_sequence(flow)),
        ]
    return lines


def _sequence(flow: Flow) -> list[str]:
    """A sequence diagram of the flow: one arrow per step and receiver, labelled with the event's short
    name and its topic when the model names one; a step with several receivers is a `par` block, one
    with none a note."""
    participants = dict.fromkeys(s for step in flow.steps for s in (step.from_, *step.to))
    lines = ["sequenceDiagram", *(f"    participant {mermaid_id('service', p)} as {p}" for p in participants)]
    for step in flow.steps:
        text = message_name(step.event) + (f" on {step.topic}" if step.topic else "")
        arrows = [
            f"{mermaid_id('service', step.from_)}->>{mermaid_id('service', to)}: {text}" for to in step.to
        ]
        if not arrows:  # written for readers the model does not have yet (reporting, audit)
            lines.append(f"    Note over {mermaid_id('service', step.from_)}: {text}")
            continue
        if len(arrows) == 1:
            lines.append(f"    {arrows[0]}")
            continue
        lines.append(f"    par {message_name(step.event)} to {', '.join(step.to)}")
        for i, arrow in enumerate(arrows):
            lines += ["    and"] * (i > 0) + [f"        {arrow}"]
        lines.append("    end")
    return lines


def _services(model: ArchitectureModel, wiring: list[Wiring]) -> list[str]:
    def topics(specs: Sequence[TopicSpec]) -> str:
        return "<br>".join(
            f"{_code(spec.name)} ({', '.join(message_name(e) for e in events_of(spec))})" for spec in specs
        )

    rows = [
        (
            _code(w.service),
            str(w.port),
            ", ".join(f"{c.name_en} ({c.status})" for c in model.components_of(w.service)) or "—",
            topics(w.consumes) or "—",
            topics(w.produces) or "—",
        )
        for w in wiring
    ]
    return [
        "## Services",
        "",
        "What each service of `services/` actually consumes and produces, from its Faust wiring, with the "
        "event types (short names of the [event contracts](#event-contracts)) of each topic.",
        "",
        *_table(("Service", "HTTP port", "Implements", "Consumes", "Produces"), rows),
    ]


def _topics(model: ArchitectureModel, topics: dict[str, TopicSpec]) -> list[str]:
    names = [*topics, *(t.name for t in model.topics if t.name not in topics)]
    rows = []
    for name in names:
        spec, modelled = topics.get(name), model.topic(name)
        readers = (", ".join(modelled.readers) or "none") if modelled else "not in the model"
        rows.append(
            (
                _code(name),
                spec.owner if spec else f"{modelled.owner if modelled else '—'} (not in the registry)",
                readers,
                _code(spec.key_description) if spec else "—",
                "<br>".join(_code(e) for e in events_of(spec)) if spec else "—",
                _yes_no(spec.internal) if spec else "—",
                spec.doc if spec else "",
            )
        )
    return [
        "## Topics",
        "",
        "Every topic of the registry (`egov/contracts/topics.py`) and of the model: its single owner, its "
        "readers (from the model), its record key, the event contracts it carries, and whether it is "
        "internal to its owner. Names are given without the run-time prefix `EGOV_TOPIC_PREFIX`.",
        "",
        *_table(("Topic", "Owner", "Readers", "Key", "Event types", "Internal", "Description"), rows),
    ]


def _contracts(registry: ContractRegistry) -> list[str]:
    rows = []
    for contract in sorted(registry.events(), key=lambda c: c.name):
        source = contract.source.relative_to(REPO_ROOT).as_posix()
        rows.append(
            (f"[{_code(contract.name)}](../{source})", _code(contract.fingerprint.hex()), contract.doc)
        )
    return [
        "## Event contracts",
        "",
        "Every event's Avro contract (`contracts/schemas/`) with the CRC-64-AVRO fingerprint of its Parsing "
        "Canonical Form, as it appears on the wire.",
        "",
        *_table(("Event type", "Fingerprint", "Description"), rows),
    ]


def _components(model: ArchitectureModel) -> list[str]:
    rows = [
        (
            f"{layer.name} ({layer.name_en})",
            f"{c.name} ({c.name_en})",
            c.status,
            _code(c.service) if c.service else "—",
        )
        for layer in model.layers
        for c in layer.components
    ]
    return ["## Components", "", *_table(("Layer", "Component", "Status", "Service"), rows)]


def _rules(model: ArchitectureModel) -> list[str]:
    rows = [(_code(rule.id), rule.text) for rule in model.rules]
    return [
        "## Rules",
        "",
        "The rules of the architecture; `egov arch verify` checks the code against them.",
        "",
        *_table(("Rule", "Text"), rows),
    ]


def _principals(model: ArchitectureModel) -> list[str]:
    acls = expected_acls(model, "")
    rows = []
    for principal, what in principals(model, "").items():
        mine = [a for a in acls if a.principal == principal]
        writes = sorted(a.name for a in mine if a.operation == "WRITE" and a.pattern == "LITERAL")
        reads = sorted(
            a.name for a in mine if a.operation == "READ" and a.pattern == "LITERAL" and a.resource == "TOPIC"
        )
        shown_reads = (
            f"every topic ({len(reads)})"
            if len(reads) == len(model.topics)
            else "<br>".join(map(_code, reads))
        )
        rows.append(
            (
                _code(principal),
                what,
                "<br>".join(map(_code, writes)) or "—",
                shown_reads or "—",
                str(len(mine)),
            )
        )
    return [
        "## Principals on the broker",
        "",
        "Who connects to the broker under the secure profile, and what the ACLs generated from this model "
        "allow each (beside its consumer group and internal topics); the broker denies everything else. "
        "Behind a topic prefix every name begins with it. `egov arch acls --check` compares the broker's "
        "ACLs with these (docs/adr/0010-broker-principals-and-acls.md).",
        "",
        *_table(("Principal", "Who", "Writes", "Reads", "ACLs"), rows),
    ]


def _conformance_roles() -> list[str]:
    rows = [
        (
            _code(role.id),
            f"{role.name_en} (in place of {_code(role.replaces)}, as {_code(role.principal)})",
            "<br>".join(_code(t.topic) for t in role.reads),
            "<br>".join(_code(t.topic) for t in role.writes),
            "<br>".join(_code(c.id) for c in role.checks),
        )
        for role in get_roles().roles
    ]
    return [
        "## Roles a vendor's system can take",
        "",
        "The roles of the conformance kit (`egov conformance run --role ROLE`, docs/conformance.md), "
        "from architecture/conformance-roles.yaml: what a vendor's system in a service's place reads and "
        "writes, and the checks the kit makes, each enforcing rules with their references. The "
        "`conformance` principal plays their counterparts.",
        "",
        *_table(("Role", "System", "Reads", "Writes", "Checks"), rows),
    ]


def _procedures(province: Province) -> list[str]:
    rows = []
    for proc in province.procedures:
        agency = province.agency(proc.receiving_agency)
        receiving = f"{agency.name} ({_code(agency.code)})" if agency else _code(proc.receiving_agency)
        rows.append(
            (
                _code(proc.code),
                proc.name,
                proc.field,
                receiving,
                str(proc.processing_days),
                format_fee(proc.fee_vnd),
                _yes_no(proc.verified),
            )
        )
    code = province.level1_agency_code
    state = "verified" if province.level1_agency_code_verified else "unverified"
    return [
        "## Procedures",
        "",
        f"The procedure catalogue of {province.name} (`architecture/provinces/{province.slug}.yaml`) that "
        "the one-stop system receives dossiers for.",
        "",
        f"> **Note.** The level-1 agency code {code} is {state}; the agency and procedure codes with the "
        f"{code} suffix are illustrative — shaped as QCVN 102:2016 prescribes, not taken from an official "
        "list. Names, processing days and fees are typical values; check the province's published catalogue "
        "before relying on a row whose *Verified* is no.",
        "",
        *_table(
            ("Code", "Tên thủ tục", "Lĩnh vực", "Receiving agency", "Working days", "Fee", "Verified"), rows
        ),
        "",
        "### Agencies",
        "",
        "The province's agencies by identifier code (mã định danh): the People's Committee, its public "
        "administration service centre, departments and district-level committees (a level abolished on "
        "1/7/2025).",
        "",
        *_table(
            ("Code", "Tên cơ quan", "Kind", "Verified"),
            ((_code(a.code), a.name, a.kind, _yes_no(a.verified)) for a in province.agencies),
        ),
    ]


def _period(province: Province) -> str:
    if province.valid_from and province.valid_until:
        return f"{province.valid_from:%d/%m/%Y} – {province.valid_until:%d/%m/%Y}"
    if province.valid_until:
        return f"until {province.valid_until:%d/%m/%Y}"
    if province.valid_from:
        return f"from {province.valid_from:%d/%m/%Y}"
    return "—"


def _provinces(model: ArchitectureModel) -> list[str]:
    rows = []
    for path in sorted(PROVINCES_DIR.glob("*.yaml")):
        province = load_province(path)
        kinds = Counter(a.kind for a in province.agencies)
        state = "verified" if province.level1_agency_code_verified else "unverified"
        rows.append(
            (
                f"[`{path.name}`](provinces/{path.name})",
                province.name + (" (the model's)" if province.slug == model.province else ""),
                _period(province),
                f"{province.level1_agency_code} ({state})",
                ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())),
                str(len(province.procedures)),
            )
        )
    return [
        "## Provinces",
        "",
        "The province is data (`EGOV_PROVINCE`): the same services run on every file below. On 1/7/2025 "
        "Bình Thuận, Đắk Nông and Lâm Đồng became Lâm Đồng province (Nghị quyết 202/2025/QH15), with two "
        "levels of local government (no district level). The architecture v1.0 is Bình Thuận's: its file "
        "describes the province before the merger; `lam-dong.yaml` the province after it. "
        "docs/legal-basis.md lists where each file's facts come from.",
        "",
        *_table(("File", "Province", "Period", "Level-1 code", "Agencies", "Procedures"), rows),
    ]


# -- the document ---------------------------------------------------------------------------------------
def render() -> str:
    """The architecture document as Markdown, from the model and the code, in a stable order."""
    model = get_model()
    topics = {spec.name: spec for spec in all_topics()}
    sections = [
        _header(model),
        _layered_view(model),
        _container_view(model, topics),
        _flows(model),
        _services(model, service_wiring()),
        _topics(model, topics),
        _contracts(get_registry()),
        _components(model),
        _rules(model),
        _principals(model),
        _conformance_roles(),
        _procedures(get_province(model.province)),
        _provinces(model),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


# -- command --------------------------------------------------------------------------------------------
@click.command("docs")
@click.option("--check", is_flag=True, help="Write nothing; fail when a committed document is stale.")
def arch_docs_command(check: bool) -> None:
    """Generate architecture/README.md from the architecture model and the code, and docs/legal-basis.md from
    the rules' citations in the code and the data."""
    write_or_check(DOCUMENT_PATH, render(), check=check, command="egov arch docs")
    write_or_check(legal.LEGAL_BASIS_PATH, legal.render(), check=check, command="egov arch docs")
    if check:
        click.echo(f"{shown(DOCUMENT_PATH)} and {shown(legal.LEGAL_BASIS_PATH)} are up to date")
        return
    model = get_model()
    click.echo(
        f"wrote {shown(DOCUMENT_PATH)}: {len(model.layers)} layers, {len(model.components())} components, "
        f"{len(model.flows)} flows, {len(model.topics)} topics"
    )
    click.echo(
        f"wrote {shown(legal.LEGAL_BASIS_PATH)}: {len(legal.every_basis())} rules with their legal basis"
    )
