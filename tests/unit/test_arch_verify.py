"""`egov arch verify` passes on the code as it is, and each check catches what it claims: every test hands it
a model or wiring mutated in one way and expects that violation, by rule and message."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from egov.contracts.serde import get_registry
from egov.contracts.topics import Topics
from egov.tools.architecture.model import MODEL_PATH, ArchitectureModel, get_model
from egov.tools.architecture.verify import Report, Wiring, collect_wiring, verify
from egov.tools.cli import main
from services import all_topics

RAW = yaml.safe_load(MODEL_PATH.read_text(encoding="utf-8"))
WIRING = collect_wiring()


def check(
    model: dict[str, Any] | None = None, wiring: dict[str, Wiring] | None = None, topics: list | None = None
) -> Report:
    return verify(
        ArchitectureModel.model_validate(model or RAW),
        wiring if wiring is not None else WIRING,
        topics if topics is not None else all_topics(),
        get_registry(),
    )


def messages(report: Report, rule: str) -> list[str]:
    return [v.message for v in report.violations if v.rule == rule]


def mutated() -> dict[str, Any]:
    return copy.deepcopy(RAW)


def test_the_code_conforms_to_the_model() -> None:
    report = check()
    assert report.violations == []
    assert report.notices == []  # every component with a service is implemented


def test_a_model_change_that_leaves_a_conformance_role_behind_is_a_violation() -> None:
    model = mutated()
    # the case systems no longer read the LGSP's deliveries, and the vendor's document system is gone
    deliveries = next(t for t in model["topics"] if t["name"] == "egov.lgsp.agency-deliveries.v1")
    deliveries["readers"] = ["audit"]
    model["principals"] = [p for p in model["principals"] if p["id"] != "vendor-documents"]
    found = messages(check(model), "conformance-roles")
    assert "role agency: the model does not let agency read egov.lgsp.agency-deliveries.v1 from lgsp" in found
    assert (
        "role documents: principal vendor-documents is no principal of the model acting as documents" in found
    )


def test_a_planned_component_without_a_service_is_a_notice_not_a_violation() -> None:
    model = mutated()
    model["layers"][3]["components"].append(
        {
            "id": "e-archive",
            "name": "Lưu trữ điện tử",
            "name_en": "E-archive",
            "status": "planned",
            "service": "archive",
        }
    )
    report = check(model=model)
    assert report.notices == ["planned: e-archive (archive) has no service yet"]
    assert report.violations == []


def test_the_command_passes_and_says_what_it_checked() -> None:
    result = CliRunner().invoke(main, ["arch", "verify"])
    assert result.exit_code == 0, result.output
    assert "conform to the code" in result.output


def test_a_service_reading_a_topic_the_model_does_not_give_it() -> None:
    wiring = dict(WIRING)
    onestop = wiring["onestop"]
    wiring["onestop"] = replace(onestop, consumes=onestop.consumes | {Topics.CASE_EVENTS.name})
    assert messages(check(wiring=wiring), "wiring") == [
        "service onestop reads egov.agency.case-events.v1, which the model does not give it "
        "(readers: lgsp, audit)"
    ]


def test_a_second_writer_on_a_topic() -> None:
    wiring = dict(WIRING)
    wiring["portal"] = replace(wiring["portal"], produces=wiring["portal"].produces | {Topics.DOSSIERS.name})
    found = messages(check(wiring=wiring), "single-writer")
    assert "topic egov.onestop.dossiers.v1 has 2 writers: onestop, portal" in found
    assert "service portal writes egov.onestop.dossiers.v1, which the model gives to onestop alone" in found


def test_a_topic_without_a_contract() -> None:
    topics = [replace(t, events=()) if t.name == Topics.DOSSIERS.name else t for t in all_topics()]
    assert "topic egov.onestop.dossiers.v1 has no contract" in messages(
        check(topics=topics), "topic-has-contract"
    )


def test_a_topic_the_registry_has_but_the_model_does_not() -> None:
    model = mutated()
    model["topics"] = [t for t in model["topics"] if t["name"] != "egov.portal.dead-letters.v1"]
    found = messages(check(model=model), "topic-has-contract")
    assert "topic egov.portal.dead-letters.v1 is in the topic registry but not in the model" in found


def test_a_provincial_application_talking_to_a_national_system_directly() -> None:
    model = mutated()
    model["topics"].append(
        {"name": "egov.onestop.citizen-lookups.v1", "owner": "onestop", "readers": ["population"]}
    )
    [message] = messages(check(model=model), "through-lgsp")
    assert message.startswith("onestop → population on egov.onestop.citizen-lookups.v1 bypasses the LGSP")


def test_an_agency_system_talking_to_the_one_stop_system_directly() -> None:
    model = mutated()
    model["topics"].append({"name": "egov.agency.decisions.v1", "owner": "agency", "readers": ["onestop"]})
    [message] = messages(check(model=model), "through-lgsp")
    assert "agency → onestop" in message


def test_the_lgsp_may_talk_to_both_sides() -> None:
    model = mutated()
    model["topics"].append({"name": "egov.lgsp.lookups.v1", "owner": "lgsp", "readers": ["population"]})
    assert messages(check(model=model), "through-lgsp") == []


def test_an_access_channel_reading_the_data_layer() -> None:
    model = mutated()
    model["topics"].append(
        {"name": "egov.reporting.indicators.v1", "owner": "reporting", "readers": ["portal"]}
    )
    [message] = messages(check(model=model), "access-channels-not-data")
    assert message.startswith(
        "portal (access-channels) reads egov.reporting.indicators.v1 of reporting (data)"
    )


def test_a_planned_flow_step_that_bypasses_the_lgsp() -> None:
    model = mutated()
    model["flows"][1]["steps"][0]["to"] = ["population"]
    assert messages(check(model=model), "through-lgsp") == [
        "flow identity-verification step 1: onestop → population bypasses the LGSP: Provincial applications "
        "reach national systems, and other agencies, only through the LGSP."
    ]


def test_a_service_belongs_to_every_layer_where_it_implements_a_component() -> None:
    assert get_model().layers_of("portal") == {"access-channels", "portals"}
    model = mutated()
    model["layers"][7]["components"][0]["service"] = "onestop"  # onestop also implements reporting (data)
    text = "Access channels never read the data layer's stores; they see what the one-stop system publishes."
    found = messages(check(model=model), "access-channels-not-data")
    assert found[:2] == [
        f"portal (access-channels) reads egov.onestop.dossiers.v1 of onestop (data): {text}",
        f"flow dossier-intake step 3: portal (access-channels) reads vn.egov.dossier.DossierReceived "
        f"of onestop (data): {text}",
    ]
    # ... and every later flow step where the portal reads what onestop publishes.
    assert all(f.startswith("flow ") and "portal (access-channels) reads" in f for f in found[2:])


def topic(model: dict, name: str) -> dict:  # type: ignore[type-arg]
    [found] = [t for t in model["topics"] if t["name"] == name]
    return found


def test_a_topic_reader_that_is_no_service_of_the_model() -> None:
    model = mutated()
    topic(model, Topics.DOSSIERS.name)["readers"].append("ghost")
    assert messages(check(model=model), "wiring") == [
        "topic egov.onestop.dossiers.v1: reader ghost is not a service of the model"
    ]


def test_a_topic_owner_that_is_no_service_of_the_model() -> None:
    model = mutated()
    topic(model, "egov.portal.dead-letters.v1")["owner"] = "ghost"
    assert messages(check(model=model), "wiring") == [
        "topic egov.portal.dead-letters.v1: owner ghost is not a service of the model"
    ]


def test_a_flow_step_whose_event_is_not_an_event_type() -> None:
    model = mutated()
    [flow] = [f for f in model["flows"] if f["id"] == "citizen-notifications"]
    flow["steps"][0]["event"] = "vn.egov.common.Money"
    assert messages(check(model=model), "flows") == [
        "flow citizen-notifications step 1: vn.egov.common.Money is not an event type",
        "flow citizen-notifications step 1: egov.onestop.dossiers.v1 does not carry vn.egov.common.Money",
    ]


def test_a_modelled_component_with_no_service() -> None:
    model = mutated()
    model["layers"][3]["components"][0]["service"] = "ghost"
    found = messages(check(model=model), "components")
    assert (
        "component one-stop-system is implemented by service ghost, which does not exist in services/"
        in found
    )
    assert "service onestop exists in services/ but no component of the model names it" in found


def test_a_planned_component_whose_service_exists() -> None:
    model = mutated()
    model["layers"][3]["components"][0]["status"] = "planned"
    found = messages(check(model=model), "components")
    assert "component one-stop-system is planned but service onestop exists: mark it implemented" in found


def test_a_flow_step_the_named_service_does_not_produce() -> None:
    model = mutated()
    model["flows"][0]["steps"][2]["from"] = "portal"
    found = messages(check(model=model), "flows")
    assert "flow dossier-intake step 3: portal does not produce egov.onestop.dossiers.v1" in found


def test_a_flow_step_whose_topic_does_not_carry_the_event() -> None:
    model = mutated()
    model["flows"][0]["steps"][2]["event"] = "vn.egov.dossier.DossierSubmitted"
    found = messages(check(model=model), "flows")
    assert (
        "flow dossier-intake step 3: egov.onestop.dossiers.v1 does not carry vn.egov.dossier.DossierSubmitted"
        in found
    )


def test_a_flow_no_end_to_end_test_covers() -> None:
    model = mutated()
    model["flows"][0]["covered_by"] = "tests/integration/test_dossier_intake.py::test_that_does_not_exist"
    [message] = messages(check(model=model), "flows")
    assert message.startswith("flow dossier-intake: no end-to-end test covers it")


def test_an_event_the_services_use_that_no_flow_has() -> None:
    model = mutated()
    model["flows"] = [f for f in model["flows"] if f["id"] != "overdue"]
    found = messages(check(model=model), "topic-has-contract")
    assert (
        "service onestop uses vn.egov.dossier.DossierOverdue on egov.onestop.dossiers.v1, "
        "but no flow of the model has that event" in found
    )


def test_the_model_itself_refuses_an_implemented_flow_without_a_test() -> None:
    model = mutated()
    del model["flows"][0]["covered_by"]
    with pytest.raises(ValidationError, match="names no end-to-end test"):
        ArchitectureModel.model_validate(model)


def test_the_model_refuses_an_external_component_with_a_service() -> None:
    model = mutated()
    model["layers"][0]["components"][0]["service"] = "portal"
    with pytest.raises(ValidationError, match="citizens is external but names service portal"):
        ArchitectureModel.model_validate(model)


def test_the_loaded_model_has_every_layer_of_the_framework() -> None:
    assert [layer.id for layer in get_model().layers] == [
        "users",
        "access-channels",
        "portals",
        "applications",
        "integration",
        "national-systems",
        "shared-services",
        "data",
        "infrastructure",
        "security",
        "governance",
    ]
