"""Where the project's data lives: the checkout's contracts, architecture and infra folders, and the
git-ignored state directory (broker data, logs, pid files)."""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout root: the folder that holds `contracts/`, `architecture/` and `infra/`.
#: `EGOV_HOME` overrides it (for an installed copy whose data lives elsewhere, e.g. in a container image).
REPO_ROOT = Path(os.environ.get("EGOV_HOME") or Path(__file__).resolve().parent.parent)

CONTRACTS_DIR = REPO_ROOT / "contracts"
SCHEMAS_DIR = CONTRACTS_DIR / "schemas"
EXAMPLES_DIR = CONTRACTS_DIR / "examples"
ARCHITECTURE_DIR = REPO_ROOT / "architecture"
PROVINCES_DIR = ARCHITECTURE_DIR / "provinces"
ONE_STOP_RULES_PATH = ARCHITECTURE_DIR / "one-stop-rules.yaml"
KAFKA_INFRA_DIR = REPO_ROOT / "infra" / "kafka"
KEYCLOAK_INFRA_DIR = REPO_ROOT / "infra" / "keycloak"
DOCKER_INFRA_DIR = REPO_ROOT / "infra" / "docker"
SERVICES_DIR = REPO_ROOT / "services"


def default_state_dir() -> Path:
    """The git-ignored folder for everything a run leaves behind (`EGOV_STATE_DIR` overrides it)."""
    return Path(os.environ.get("EGOV_STATE_DIR") or REPO_ROOT / ".egov")
