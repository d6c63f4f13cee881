"""`egov arch observe`: the command."""

from __future__ import annotations

import asyncio
import sys

import click
from aiokafka.errors import KafkaError

from egov.runtime.admin import BrokerUnavailable
from egov.runtime.settings import get_settings
from egov.tools.architecture.observe.gathering import observe


@click.command("observe")
@click.option(
    "--sample",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Latest records read per partition of each modelled topic.",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds allowed for each request to the broker and for the sampling.",
)
def arch_observe_command(sample: int, timeout: float) -> None:
    """Compare the live traffic with architecture/model.yaml; exit 1 on any finding, 2 without a broker.

    Reports consumer groups and record writers the model does not allow, event types a topic does not
    carry, modelled topics missing on the broker and steps of implemented flows that saw no traffic.
    """
    settings = get_settings()
    try:
        report = asyncio.run(observe(settings, sample_per_partition=sample, timeout=timeout))
    except (BrokerUnavailable, TimeoutError, KafkaError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(report.render())
    sys.exit(0 if report.ok else 1)
