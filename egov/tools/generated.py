"""Files the project generates and commits (the AsyncAPI document, the architecture document): one way to
write them, and one way to check that the committed copy is not stale."""

from __future__ import annotations

from pathlib import Path

import click

from egov.paths import REPO_ROOT


def shown(path: Path) -> Path:
    """The path as a user of the checkout reads it."""
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def write_or_check(path: Path, text: str, *, check: bool, command: str) -> None:
    """Write `text` to `path`; with `check`, fail (exit 1) when the committed file differs instead."""
    if check:
        committed = path.read_text(encoding="utf-8") if path.exists() else None
        if committed != text:
            state = "missing" if committed is None else "stale"
            raise click.ClickException(f"{shown(path)} is {state}: run `{command}` to regenerate it")
        return
    path.write_text(text, encoding="utf-8", newline="\n")
