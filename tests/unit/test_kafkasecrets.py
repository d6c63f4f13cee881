"""`egov kafka secrets`: the installation's passwords generated once, each container given only its part."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from egov.runtime.credentials import ADMIN, BROKER, CONTROLLER, SecretStore, service_principal
from egov.runtime.settings import Settings
from egov.tools.cli import main
from egov.tools.kafkasecrets import BROKER_FILES, CLUSTER_ID_FILE, SERVICE_SECRETS, Owner, lay_out
from services import SERVICES


@pytest.fixture(autouse=True)
def _own_secrets_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets file of each test's own state folder, not the one a test session's broker set."""
    for name in ("EGOV_KAFKA_SECRETS_FILE", "EGOV_KAFKA_PRINCIPAL", "EGOV_KAFKA_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_every_principal_gets_a_password_once_and_each_container_its_part(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", topic_prefix="t1.")
    broker_dir, services_dir = tmp_path / "broker", tmp_path / "services"
    done = lay_out(settings, broker_dir=broker_dir, services_dir=services_dir)
    passwords = SecretStore(settings.secrets_path).read()
    assert {BROKER, CONTROLLER, ADMIN, "t1.operator", "t1.vendor-agency"} <= passwords.keys()
    assert {service_principal("t1.", name) for name in SERVICES} <= passwords.keys()
    assert done.generated == done.principals == len(passwords)

    # the broker's folder: one value per file, no line end, only its owner reads them
    for name, principal in BROKER_FILES.items():
        assert (broker_dir / name).read_text() == passwords[principal]
        assert _mode(broker_dir / name) == 0o600
    cluster_id = (broker_dir / CLUSTER_ID_FILE).read_text()
    assert len(cluster_id) == 22 and "\n" not in cluster_id
    assert _mode(broker_dir) == 0o700

    # each service's folder: its own password and nobody else's, at its state folder's default secrets path
    for name in SERVICES:
        own = services_dir / name / SERVICE_SECRETS
        assert json.loads(own.read_text()) == {
            service_principal("t1.", name): passwords[service_principal("t1.", name)]
        }
        assert _mode(own) == 0o600 and _mode(own.parent) == 0o700
        service = Settings(state_dir=services_dir / name, topic_prefix="t1.")
        assert service.secrets_path == own
        assert (
            service.kafka_options(service_principal("t1.", name))["sasl_plain_username"] == f"t1.egov-{name}"
        )

    # a second run keeps every password and the cluster id
    again = lay_out(settings, broker_dir=broker_dir, services_dir=services_dir)
    assert again.generated == 0
    assert SecretStore(settings.secrets_path).read() == passwords
    assert (broker_dir / CLUSTER_ID_FILE).read_text() == cluster_id


def test_owners_are_names_or_numbers() -> None:
    me = Owner.parse(f"{os.getuid()}:{os.getgid()}")
    assert (me.uid, me.gid) == (os.getuid(), os.getgid())
    assert Owner.parse("1000:1000") == Owner(1000, 1000)  # a user of another image: numbers
    assert Owner.parse("root") == Owner(0, 0)
    with pytest.raises(ValueError, match="UID:GID"):
        Owner.parse("no-such-user-here")


def test_the_command_prints_no_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path))
    from egov.runtime.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["kafka", "secrets", "--broker-dir", str(tmp_path / "broker")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "principals in" in result.output
    for password in SecretStore(tmp_path / "secrets" / "kafka.json").read().values():
        assert password not in result.output
