"""`egov contracts …`: the vendor toolkit. Exit codes a CI can use: 0 valid or compatible, 1 not, 2 usage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from egov.contracts.errors import FieldError
from egov.contracts.serde import MAGIC, Contract, ContractError, get_registry
from egov.contracts.validation import get_validator, natural_json
from egov.paths import EXAMPLES_DIR
from egov.tools.contracts.asyncapi import asyncapi_command
from egov.tools.contracts.compat import Incompatibility, check_all, check_candidate, release
from services import all_topics

#: A file to read, or - for standard input; a missing one is a usage error (exit 2).
INPUT = click.Path(exists=True, dir_okay=False, allow_dash=True)


def resolve(name: str) -> Contract:
    """A contract by full name (vn.egov.dossier.DossierSubmitted) or unique short name (DossierSubmitted)."""
    registry = get_registry()
    events = registry.events()
    matches = [c for c in events if name in (c.name, c.name.rsplit(".", 1)[-1])]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted(c.name.rsplit(".", 1)[-1] for c in events))
    raise click.BadParameter(f"no event type {name!r}; known: {known}", param_hint="TYPE")


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _topics_of(name: str) -> list[str]:
    return [t.name for t in all_topics() if name in t.events]


@click.group()
def contracts() -> None:
    """Event contracts: find, show, validate, encode and decode payloads; check schema evolution."""


contracts.add_command(asyncapi_command, "asyncapi")


@contracts.command("list")
def list_command() -> None:
    """Every event type, its topics and its fingerprint."""
    for contract in sorted(get_registry().events(), key=lambda c: c.name):
        topics = ", ".join(_topics_of(contract.name)) or "-"
        click.echo(f"{contract.name:48} {contract.fingerprint.hex()}  {topics}")


@contracts.command()
@click.argument("type_name", metavar="TYPE")
def show(type_name: str) -> None:
    """The schema of an event type (as written, with its docs), its topics and fingerprint."""
    contract = resolve(type_name)
    click.echo(f"# {contract.name}  fingerprint {contract.fingerprint.hex()}  source {contract.source.name}")
    click.echo(f"# topics: {', '.join(_topics_of(contract.name)) or '-'}")
    click.echo(contract.source.read_text(encoding="utf-8").rstrip())


@contracts.command()
@click.argument("type_name", metavar="TYPE")
def example(type_name: str) -> None:
    """The golden example of an event type, as JSON."""
    contract = resolve(type_name)
    click.echo((EXAMPLES_DIR / f"{contract.name}.json").read_text(encoding="utf-8").rstrip())


def _report(errors: list[FieldError], as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps({"valid": not errors, "errors": [e.__dict__ for e in errors]}, ensure_ascii=False)
        )
    elif errors:
        for error in errors:
            click.echo(f"invalid: {error}", err=True)
    else:
        click.echo("valid")


@contracts.command()
@click.argument("type_name", metavar="TYPE")
@click.argument("file", metavar="FILE", type=INPUT)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(type_name: str, file: str, as_json: bool) -> None:
    """Validate FILE (JSON, or single-object-encoded Avro; - for stdin) as an event of TYPE.

    Each error names the field path and the rule broken. Exit 0 when valid, 1 when not.
    """
    contract = resolve(type_name)
    data = _read(file)
    validator = get_validator()
    errors: list[FieldError]
    if data[:2] == MAGIC:
        try:
            written, record = get_registry().decode(data)
        except ContractError as exc:
            errors = [FieldError("(bytes)", "wire-format", str(exc))]
        else:
            if written.name != contract.name:
                errors = [FieldError("(bytes)", "type", f"is a {written.name}, not a {contract.name}")]
            else:
                errors = validator.validate_event(contract.name, record)
    else:
        try:
            payload = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            errors = [FieldError("(file)", "json", f"is neither JSON nor single-object Avro: {exc}")]
        else:
            errors = validator.from_json(contract.name, payload)[1]
    _report(errors, as_json)
    sys.exit(1 if errors else 0)


@contracts.command()
@click.argument("type_name", metavar="TYPE")
@click.argument("file", metavar="FILE.json", type=INPUT)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def encode(type_name: str, file: str, output: str | None) -> None:
    """Encode a JSON payload as single-object Avro (the wire format)."""
    contract = resolve(type_name)
    try:
        payload = json.loads(_read(file))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file} is not JSON: {exc}") from exc
    record, errors = get_validator().from_json(contract.name, payload)
    if errors or record is None:
        _report(errors, False)
        sys.exit(1)
    data = get_registry().encode(contract.name, record)
    if output:
        Path(output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


@contracts.command()
@click.argument("file", metavar="FILE", type=INPUT)
def decode(file: str) -> None:
    """Decode single-object Avro bytes: the writer's type is found by the fingerprint."""
    try:
        contract, record = get_registry().decode(_read(file))
    except ContractError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        json.dumps({"type": contract.name, "data": natural_json(record)}, ensure_ascii=False, indent=2)
    )


@contracts.command("check-compat")
@click.argument("file", metavar="FILE.avsc", type=click.Path(exists=True, dir_okay=False))
def check_compat(file: str) -> None:
    """Check a new version of a contract against every released version (BACKWARD-transitive).

    An event contract is checked against its own releases; a shared type (vn.egov.common.*) through every
    released event that uses it. Named types of the project's contracts may be referenced by full name.
    Exit 0 when compatible, 1 when not (or when the name is no contract of the project).
    """
    try:
        raw = json.loads(Path(file).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise click.ClickException(f"{file} is not an Avro named type (a JSON object with a name)")
    name, problems, checked = check_candidate(raw, get_registry())
    _exit_if_incompatible(problems)
    if not checked:
        click.echo(f"{name}: no released version uses it yet; nothing to be compatible with")
        return
    click.echo(f"{name}: compatible with {', '.join(checked)}")


def _exit_if_incompatible(problems: list[Incompatibility]) -> None:
    for problem in problems:
        click.echo(f"incompatible: {problem}", err=True)
    if problems:
        sys.exit(1)


@contracts.command("check")
def check_command() -> None:
    """The gate: every contract against all its released versions."""
    _exit_if_incompatible(check_all())
    click.echo(f"{len(get_registry().events())} contracts compatible with every released version")


@contracts.command("release")
def release_command() -> None:
    """Record a new released version of every contract that changed (refused when incompatible)."""
    try:
        written = release()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in written:
        click.echo(f"released {path.parent.name} {path.stem}")
    if not written:
        click.echo("nothing changed since the last release")
