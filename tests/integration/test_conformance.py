"""The conformance kit on the real broker, and proof that it discriminates: our own `agency` and `documents`
services pass every check of their roles when run as "the vendor"; a deliberately faulty case system fails
exactly the checks its faults break, each named; the Java sample of examples/java-agency (kafka-clients and
Apache Avro, reading the schemas from contracts/) passes the agency role. The JUnit XML parses and lists
every check.

The kit runs as the model's `conformance` principal; the vendors as theirs (`vendor-agency`) or, for our
services, as the services themselves. Business time runs a day per second for every process of a module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from egov.paths import REPO_ROOT
from egov.runtime.settings import Settings, get_settings
from egov.tools.architecture.roles import get_roles
from egov.tools.cli import main as egov
from egov.tools.conformance.report import HTML_FILE, JUNIT_FILE, TRANSCRIPTS_DIR
from egov.tools.processes import stop_process
from tests.integration.conftest import fast_clock_env, new_settings, run_stack, wait_until

pytestmark = pytest.mark.integration
ROLES = get_roles()
#: The vendor's agency in these tests, and the department whose dossiers are not its own.
AGENCY = "000.00.04.H11"
JAVA_SAMPLE = REPO_ROOT / "examples" / "java-agency"
FAULTY_VENDOR = Path(__file__).with_name("faulty_agency_vendor.py")


def check_ids(role: str) -> list[str]:
    return [c.id for c in ROLES.get(role).checks]


@pytest.fixture(scope="module")
def slice_(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A private, provisioned slice of the broker, and the business clock every process of the module
    shares."""
    folder = tmp_path_factory.mktemp("conformance")
    settings = new_settings(kafka_bootstrap, folder / "state")
    env = {**fast_clock_env(1.0), "EGOV_AGENCY_CODES": AGENCY}
    yield settings, env


def kit_env(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    return {
        "EGOV_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "EGOV_TOPIC_PREFIX": settings.topic_prefix,
        "EGOV_STATE_DIR": str(settings.state_dir),
        "EGOV_KAFKA_SECURITY": settings.kafka_security,
        "EGOV_KAFKA_SECRETS_FILE": str(settings.secrets_path),
        "EGOV_CLOCK_SPEED": env["EGOV_CLOCK_SPEED"],
        "EGOV_CLOCK_ANCHOR": env["EGOV_CLOCK_ANCHOR"],
    }


def run_kit(
    settings: Settings, env: Mapping[str, str], role: str, report: Path, *extra: str
) -> tuple[int, str, float]:
    """`egov conformance run` as a vendor runs it: exit code, output, seconds."""
    get_settings.cache_clear()
    begun = time.monotonic()
    try:
        result = CliRunner().invoke(
            egov,
            ["conformance", "run", "--role", role, "--agency-code", AGENCY, "--report", str(report), *extra],
            env=kit_env(settings, env),
        )
    finally:
        get_settings.cache_clear()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output, time.monotonic() - begun


def junit_cases(report: Path) -> dict[str, bool]:
    """Check id → passed, from the JUnit XML as any CI reads it."""
    root = ET.parse(report / JUNIT_FILE).getroot()
    return {case.get("name", ""): case.find("failure") is None for case in root.iter("testcase")}


def test_our_agency_service_passes_every_check_of_the_agency_role(
    slice_: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, env = slice_
    with run_stack(settings, ("agency",), env=env):
        code, output, seconds = run_kit(settings, env, "agency", tmp_path)
    print(output, f"agency role: {seconds:.1f} s")
    assert code == 0, output
    cases = junit_cases(tmp_path)
    assert list(cases) == check_ids("agency")  # one test case per check, in the role's order
    assert all(cases.values())
    html = (tmp_path / HTML_FILE).read_text(encoding="utf-8")
    assert all(check in html for check in cases) and "<script" not in html
    assert not (tmp_path / TRANSCRIPTS_DIR).exists()


class Vendor:
    """A vendor's system as a process of its own, logging to a file; stopped on the way out."""

    def __init__(
        self, command: list[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
    ) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
                cwd=cwd,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until it says its consumer has its partitions (it must not miss what the kit sends)."""

        def ready() -> bool:
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            return "ready" in self.log.read_text(errors="replace")

        wait_until(ready, f"the vendor's system was not ready (log {self.log})", timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            stop_process(self.process.pid, 15.0)
        self.process.wait(timeout=10)


def vendor_env(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    # EGOV_TEST_SESSION: tests/cleanup.py stops it if the run is killed before the test could
    return {**kit_env(settings, env), "PYTHONUNBUFFERED": "1", "EGOV_TEST_SESSION": str(os.getpid())}


#: The faulty vendor's faults and the one check each must fail.
FAULTS = {
    "agency.key-is-the-dossier-code": "keys its answers by its agency code",
    "agency.cloudevents-headers": "leaves out ce_specversion",
    "agency.decides-once": "decides a decided dossier again when it is delivered again",
    "agency.goes-on-after-poison": "crashes on a record it cannot decode",
    "agency.within-the-deadline": "answers after the deadline",
}


def test_a_faulty_case_system_fails_exactly_the_checks_of_its_faults(
    slice_: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, env = slice_
    vendor = Vendor(
        [sys.executable, str(FAULTY_VENDOR), AGENCY], vendor_env(settings, env), tmp_path / "faulty.log"
    )
    try:
        vendor.wait_ready()
        code, output, seconds = run_kit(settings, env, "agency", tmp_path / "report")
        crashed = vendor.process.poll()
    finally:
        vendor.stop()
    print(output, f"agency role, faulty vendor: {seconds:.1f} s")
    assert code == 1, output
    cases = junit_cases(tmp_path / "report")
    assert list(cases) == check_ids("agency")
    failed = {check for check, passed in cases.items() if not passed}
    assert failed == set(FAULTS), output
    for check in FAULTS:  # each failure has its transcript, and the report shows it
        assert (tmp_path / "report" / TRANSCRIPTS_DIR / f"{check}.jsonl").read_text(encoding="utf-8")
    # … and the poison did crash it, as it should
    assert crashed not in (None, 0) and "UndecodableMessage" in vendor.log.read_text(errors="replace")


def test_our_documents_service_passes_every_check_of_the_documents_role(
    slice_: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, env = slice_
    profile = tmp_path / "documents-profile.yaml"
    profile.write_text(yaml.safe_dump({"default_days": 1}), encoding="utf-8")
    with run_stack(settings, ("documents",), env={**env, "EGOV_DOCUMENTS_PROFILE": str(profile)}):
        code, output, seconds = run_kit(settings, env, "documents", tmp_path)
    print(output, f"documents role: {seconds:.1f} s")
    assert code == 0, output
    cases = junit_cases(tmp_path)
    assert list(cases) == check_ids("documents") and all(cases.values())


@pytest.fixture(scope="session")
def java_sample() -> Path:
    """The Java sample, built once per session with Maven (target/ is kept between runs, so a rebuild is
    quick); skipped where Java or Maven is missing, except in CI, where it must run."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{' and '.join(missing)} missing: the Java sample must run in CI")
        pytest.skip(f"{' and '.join(missing)} not on PATH: the Java sample cannot be built")
    built = subprocess.run(
        ["mvn", "-q", "-B", "package"], cwd=JAVA_SAMPLE, capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return JAVA_SAMPLE


def test_the_java_sample_passes_every_check_of_the_agency_role(
    slice_: tuple[Settings, dict[str, str]], java_sample: Path, tmp_path: Path
) -> None:
    settings, env = slice_
    # the vendor's connection settings, as the docs tell a vendor to get them
    get_settings.cache_clear()
    try:
        printed = CliRunner().invoke(
            egov, ["kafka", "client-config", "--principal", "vendor-agency"], env=kit_env(settings, env)
        )
    finally:
        get_settings.cache_clear()
    assert printed.exit_code == 0, printed.output
    config = tmp_path / "vendor-agency.properties"
    config.write_text(printed.output, encoding="utf-8")
    config.chmod(0o600)
    command = [
        "java",
        "-cp",
        f"{java_sample / 'target' / 'java-agency-1.jar'}{os.pathsep}{java_sample / 'target' / 'lib' / '*'}",
        "vn.egov.examples.agency.CaseSystem",
        "--config",
        str(config),
        "--contracts",
        str(REPO_ROOT / "contracts"),
        "--agency-code",
        AGENCY,
    ]
    vendor = Vendor(command, vendor_env(settings, env), tmp_path / "java.log")
    try:
        vendor.wait_ready()
        code, output, seconds = run_kit(settings, env, "agency", tmp_path / "report")
    finally:
        vendor.stop()
    print(output, f"agency role, Java sample: {seconds:.1f} s")
    assert code == 0, output + vendor.log.read_text(errors="replace")[-3000:]
    cases = junit_cases(tmp_path / "report")
    assert list(cases) == check_ids("agency") and all(cases.values())
    # it said why it passed over the poison, and went on
    assert "passed over" in vendor.log.read_text(errors="replace")
