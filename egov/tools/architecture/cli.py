"""`egov arch …`: the architecture model checked against the code and the traffic, and its document."""

from __future__ import annotations

import click

from egov.tools.architecture.docs import arch_docs_command
from egov.tools.architecture.observe import arch_observe_command
from egov.tools.architecture.verify import arch_verify_command


@click.group()
def arch() -> None:
    """Architecture v1.0 as code: verify the code, observe the traffic, generate the document."""


arch.add_command(arch_verify_command)
arch.add_command(arch_docs_command)
arch.add_command(arch_observe_command)
