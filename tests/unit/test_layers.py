"""The floors of the code import only downward (pyproject.toml's `[tool.importlinter]` contracts): tools above
the services, the services above the runtime, the runtime above the platform libraries, the contracts and the
regulations; domain modules pure; services apart. The check runs on the tree, and on a copy of the tree with
an upward import planted in it, to show that it would catch one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from egov.paths import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the packages under `root`, with the contracts of `root/pyproject.toml`."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_floor_imports_only_downward() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract", "chain"),
    [
        # the cycle the contracts once had: the wire format reaching up into the Faust wiring
        ("egov/contracts/serde.py", "import egov.runtime.service", "Floors import only downward", None),
        # a domain module reaching for the broker client
        (
            "services/notify/domain.py",
            "import aiokafka",
            "Domain modules are pure",
            "services.notify.domain -> aiokafka",
        ),
        # one service importing another's wiring instead of reading its topic
        (
            "services/payment/app.py",
            "from services.onestop import journey",
            "Services reach each other only through the broker",
            "services.payment.app -> services.onestop.journey",
        ),
    ],
)
def test_a_planted_forbidden_import_breaks_the_check(
    tmp_path: Path, module: str, planted: str, contract: str, chain: str | None
) -> None:
    for part in ("egov", "services"):
        shutil.copytree(REPO_ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{planted}  # planted by the test\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0, result.stdout
    assert f"{contract}" in result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    expected = chain or f"{module.removesuffix('.py').replace('/', '.')} -> egov.runtime.service"
    assert expected in broken, broken
