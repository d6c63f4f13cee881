"""`egov conformance`: a vendor's running system tested against its role (docs/conformance.md)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from egov.runtime.settings import get_settings
from egov.tools.architecture.roles import get_roles

#: Exit codes: every check passed, a check failed, the kit could not run (usage or configuration).
PASSED, FAILED, USAGE = 0, 1, 2


@click.group()
def conformance() -> None:
    """The conformance kit: your system, connected to the broker in place of a stand-in, tested against the
    contracts and the rules of its role (architecture/conformance-roles.yaml)."""


@conformance.command("run")
@click.option(
    "--role", "role_id", required=True, type=click.Choice(get_roles().ids), help="The role your system plays."
)
@click.option(
    "--agency-code",
    help="Your system's agency (default: the first department of EGOV_PROVINCE responsible for a procedure).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write junit.xml, report.html and the failed checks' transcripts "
    "(default: <state dir>/conformance/<role>).",
)
@click.option(
    "--timeout", default=60.0, show_default=True, help="Real seconds a scenario waits for an answer at most."
)
@click.option(
    "--grace",
    default=10.0,
    show_default=True,
    help="Real seconds an answer is still awaited once its deadline has passed in business time (to "
    "report it late).",
)
def run(role_id: str, agency_code: str | None, report_dir: Path | None, timeout: float, grace: float) -> None:
    """Play every counterpart of ROLE against your running system and check what it does. Exit 0 when every
    check passes, 1 when one fails, 2 when the kit cannot run (usage, configuration, broker)."""
    # the kit (its clients, the CA, the report's templates) loads only when it runs, not with every `egov`
    from aiokafka.errors import KafkaError

    from egov.runtime.credentials import CredentialsMissing
    from egov.tools.conformance.context import Timing
    from egov.tools.conformance.report import HTML_FILE, JUNIT_FILE, summary_line, write_report
    from egov.tools.conformance.runner import SetupError, run_role

    settings = get_settings()
    try:
        result = asyncio.run(
            run_role(settings, role_id, agency_code, timing=Timing(timeout=timeout, grace=grace))
        )
    except (SetupError, CredentialsMissing, LookupError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(USAGE)
    except (KafkaError, OSError) as exc:
        click.echo(
            f"Error: the kit could not talk to the broker at {settings.kafka_bootstrap_servers}: {exc!r}",
            err=True,
        )
        sys.exit(USAGE)
    directory = report_dir or settings.state_dir / "conformance" / role_id
    write_report(result, directory)
    for v in result.verdicts:
        mark = "PASS" if v.passed else "FAIL"
        click.echo(f"  {mark}  {v.id}: {v.reason}")
    click.echo(summary_line(result))
    click.echo(f"Report: {directory / HTML_FILE} (JUnit: {directory / JUNIT_FILE})")
    sys.exit(PASSED if result.passed else FAILED)
