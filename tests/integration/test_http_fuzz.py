"""Property-based fuzzing of the live portal and document APIs from their OpenAPI documents (Schemathesis), on
the real broker, with real tokens of the session's identity provider.

For every operation, a bounded number of cases that fit the documented schema and of cases that break it,
sent signed in as a person the route serves (a one-stop counter officer at the portal, an agency's leader at
the document system). Then:

- never a 5xx, and every status and body is one the document declares (Schemathesis' conformance checks);
- every 4xx is the error body naming the field, the rule and what to do;
- both services stay healthy;
- no invalid input reaches a topic: every record the services wrote meets its contract and its rules.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from egov.contracts.serde import get_registry
from egov.contracts.topics import Topics
from egov.contracts.validation import get_validator
from egov.runtime.openapi import Issuers
from egov.tools.identity.signin import SignIn
from egov.tools.openapi import build_documents
from tests.integration.conftest import Stack, run_stack
from tests.integration.kafka_helpers import read_all

#: Cases per operation and generation mode: 12 operations × 2 modes × this, about a minute on 2 cores.
CASES = 20
COUNTER_OFFICER = "000.00.01.H11/mot-cua-01"
LEADER = "000.00.04.H11/lanh-dao-01"
#: The topics the two APIs record requests on.
RECORDED = (Topics.DOSSIER_SUBMISSIONS, Topics.SUPPLEMENTS, Topics.DOCUMENT_DRAFTS, Topics.OUTGOING_DOCUMENTS)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tests.integration.conftest import new_settings

    settings = new_settings(kafka_bootstrap, tmp_path_factory.mktemp("fuzz") / "state")
    with run_stack(settings, ("portal", "documents")) as stack:
        yield stack


def _error_names_a_field(body: Any) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    return bool(errors) and all(
        isinstance(e, dict) and all(isinstance(e.get(k), str) and e[k] for k in ("field", "rule", "message"))
        for e in errors
    )


def fuzz(stack: Stack, api: str, person: str, tally: collections.Counter[str]) -> None:
    """Every operation of `api`, CASES positive and CASES negative cases each, as `person` (an official)."""
    sign_in: SignIn = stack.sign_in
    url = stack.services[api].url
    docs = build_documents(Issuers(sign_in.citizen_issuer, sign_in.official_issuer), servers={api: url})
    schema = schemathesis.openapi.from_dict(docs[api])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(m) for m in docs[api]["paths"].values())
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=CASES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def one(case: schemathesis.Case) -> None:
                headers = {"Authorization": f"Bearer {sign_in.official(person)}"}
                response = case.call(base_url=url, headers=headers, timeout=15)
                tally["cases"] += 1
                tally[f"{response.status_code // 100}xx"] += 1
                case.validate_response(response, checks=CHECKS, headers=headers)
                if 400 <= response.status_code < 500:
                    assert _error_names_a_field(response.json()), (case.method, case.path, response.text)

            try:
                one()
            except Unsatisfiable:
                # no schema-breaking value exists for what the operation takes (a bare string parameter)
                assert mode == GenerationMode.NEGATIVE, (operation.label, mode)
                tally["operations without negative cases"] += 1


def test_fuzzing_the_portal_and_the_document_system_finds_no_failure_and_records_nothing_invalid(
    fuzzed: Stack,
) -> None:
    started = time.monotonic()
    tally: collections.Counter[str] = collections.Counter()
    # Given the portal and the document system on the real broker, signed in as people they serve
    # When every operation gets its generated cases
    fuzz(fuzzed, "portal", COUNTER_OFFICER, tally)
    fuzz(fuzzed, "documents", LEADER, tally)
    # Then no 5xx was seen (the checks above), and both services are still healthy
    for name in ("portal", "documents"):
        health = httpx.get(f"{fuzzed.services[name].url}/health", timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "ok", name
    # and every record on the topics the APIs write meets its contract and its rules
    validator = get_validator()
    registry = get_registry()
    bootstrap = fuzzed.settings.kafka_bootstrap_servers
    recorded = 0
    for spec in RECORDED:
        for record in read_all(bootstrap, fuzzed.topic(spec)):
            contract, value = registry.decode(record.value)
            assert validator.validate_event(contract.name, value) == [], (spec.name, record.offset)
            recorded += 1
    elapsed = time.monotonic() - started
    print(
        f"\nfuzzed {tally['cases']} cases in {elapsed:.0f} s: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()) if k != "cases")
        + f"; 5xx seen: {tally['5xx']}; records on the APIs' topics: {recorded}, all valid"
    )
    assert tally["5xx"] == 0
    assert tally["cases"] >= 12 * CASES, "every operation was fuzzed with schema-valid cases at least"
