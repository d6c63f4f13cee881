"""`egov arch …`: the architecture model checked against the code and the traffic, and its document."""

from __future__ import annotations

import click

from egov.tools.architecture.docs import arch_docs_command
from egov.tools.architecture.observe import arch_observe_command
from egov.tools.architecture.verify import arch_verify_command


@click.group()
def arch() -> None:
    """Architecture v1.0 as code: verify the code, observe the traffic, compare the broker's ACLs, generate
    the document."""


@arch.command("acls")
@click.option("--check", is_flag=True, help="Only compare (the default); exit 1 when they differ.")
@click.option(
    "--apply", is_flag=True, help="Make the broker's ACLs the model's: create the missing, remove the rest."
)
def arch_acls_command(check: bool, apply: bool) -> None:
    """The broker's ACLs against those architecture/model.yaml gives its principals, for this topic prefix:
    every missing binding and every binding the model does not give (an ACL added by hand). Exit 1 on any
    difference (after --apply, on any left), 2 without a broker."""
    from egov.runtime.admin import BrokerUnavailable
    from egov.runtime.credentials import CredentialsMissing
    from egov.runtime.settings import get_settings
    from egov.tools.provision import ProvisionError, check_acls, provision

    if check and apply:
        raise click.UsageError("--check and --apply exclude each other")
    settings = get_settings()
    if settings.kafka_security == "plaintext":
        raise click.ClickException("the plaintext profile has no ACLs: nothing is enforced by the broker")
    try:
        if apply:
            done = provision(settings, prune=True)
            click.echo(f"Applied: {done.summary()}")
        differences = check_acls(settings)
    except (BrokerUnavailable, CredentialsMissing, ProvisionError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from exc
    for line in differences.lines():
        click.echo(line)
    if not differences.ok:
        raise SystemExit(1)
    prefix = f" under prefix {settings.topic_prefix!r}" if settings.topic_prefix else ""
    click.echo(f"The broker's ACLs{prefix} are those of the model.")


arch.add_command(arch_verify_command)
arch.add_command(arch_docs_command)
arch.add_command(arch_observe_command)
