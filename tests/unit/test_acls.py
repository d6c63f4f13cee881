"""The broker's ACLs as the architecture model gives them: least privilege, nothing kept by hand."""

from __future__ import annotations

from egov.tools.architecture.acls import Acl, compare, expected_acls, principals
from egov.tools.architecture.model import get_model
from egov.tools.architecture.roles import get_roles

MODEL = get_model()
P = "t1."


def rights(principal: str) -> set[tuple[str, str, str, str]]:
    return {
        (a.resource, a.pattern, a.name, a.operation)
        for a in expected_acls(MODEL, P)
        if a.principal == principal
    }


def test_a_service_writes_what_it_owns_reads_what_the_model_lets_it_and_keeps_its_group_and_tables() -> None:
    portal = rights("t1.egov-portal")
    assert ("TOPIC", "LITERAL", "t1.egov.portal.dossier-submissions.v1", "WRITE") in portal
    assert ("TOPIC", "LITERAL", "t1.egov.onestop.dossiers.v1", "READ") in portal
    assert ("GROUP", "LITERAL", "t1.egov-portal", "READ") in portal
    assert {("TOPIC", "PREFIXED", "t1.egov-portal-", op) for op in ("READ", "WRITE")} <= portal
    # an access channel never reads the data layer, nor onestop's internal journeys (ID numbers)
    assert ("TOPIC", "LITERAL", "t1.egov.onestop.journeys.v1", "READ") not in portal
    # and nothing beyond: no CREATE, no DESCRIBE, no cluster, no other service's topics to write
    assert {r[3] for r in portal} == {"READ", "WRITE"}
    assert {r[0] for r in portal} == {"TOPIC", "GROUP"}
    owned = {t.name for t in MODEL.topics if t.owner == "portal"}
    written = {r[2].removeprefix(P) for r in portal if r[3] == "WRITE" and r[1] == "LITERAL"}
    assert written == owned


def test_every_reader_and_owner_of_the_model_has_exactly_its_rights() -> None:
    acls = expected_acls(MODEL, P)
    for topic in MODEL.topics:
        writers = {a.principal for a in acls if a.name == P + topic.name and a.operation == "WRITE"}
        readers = {a.principal for a in acls if a.name == P + topic.name and a.operation == "READ"}
        assert f"{P}egov-{topic.owner}" in writers
        # besides the owner: the vendors in their stand-ins' place, and the conformance kit on what it plays
        assert writers - {f"{P}egov-{topic.owner}"} <= {
            f"{P}vendor-agency",
            f"{P}vendor-documents",
            f"{P}conformance",
        }, topic.name
        assert {f"{P}egov-{r}" for r in topic.readers} <= readers
        assert {r for r in readers if r.startswith(f"{P}egov-")} == {f"{P}egov-{r}" for r in topic.readers}


def test_a_vendors_case_system_has_the_agency_stand_ins_topics_under_its_own_name() -> None:
    vendor = rights("t1.vendor-agency")
    topics = {(r[2], r[3]) for r in vendor if r[0] == "TOPIC" and r[1] == "LITERAL"}
    assert topics == {(n, op) for (_, _, n, op) in rights("t1.egov-agency") if not n.startswith("t1.egov-")}
    assert ("GROUP", "PREFIXED", "t1.vendor-agency", "READ") in vendor
    assert ("GROUP", "LITERAL", "t1.egov-agency", "READ") not in vendor


def test_the_operator_reads_every_topic_and_writes_none() -> None:
    operator = rights("t1.operator")
    assert {n for (_, _, n, op) in operator if op == "READ"} == {P + t.name for t in MODEL.topics}
    assert not [r for r in operator if r[3] == "WRITE"]


def test_the_conformance_kit_writes_what_its_roles_read_and_reads_what_they_write_and_nothing_else() -> None:
    kit = rights("t1.conformance")
    roles = get_roles()
    expected = set()
    for role in roles.roles:
        expected |= {("TOPIC", "LITERAL", P + t.topic, "WRITE") for t in role.reads}
        expected |= {("TOPIC", "LITERAL", P + t.topic, "READ") for t in role.writes}
        expected.add(("TOPIC", "LITERAL", P + role.dead_letters, "READ"))
    assert kit == expected
    # it plays the LGSP towards a case system: it delivers dossiers, it reads case events
    assert ("TOPIC", "LITERAL", "t1.egov.lgsp.agency-deliveries.v1", "WRITE") in kit
    assert ("TOPIC", "LITERAL", "t1.egov.agency.case-events.v1", "READ") in kit
    # and no consumer group, no topic it does not play (not the dossiers, with the citizens' contacts)
    assert not [r for r in kit if r[0] == "GROUP"]
    assert not [r for r in kit if r[2] == "t1.egov.onestop.dossiers.v1"]


def test_principals_are_every_service_and_the_models_parties() -> None:
    names = principals(MODEL, P)
    assert {"t1.egov-portal", "t1.egov-audit", "t1.vendor-agency", "t1.operator"} <= set(names)
    assert len(names) == 11 + len(MODEL.principals)


def test_compare_names_a_binding_added_by_hand_and_one_taken_away() -> None:
    expected = expected_acls(MODEL, P)
    taken = Acl("t1.egov-payment", "TOPIC", "LITERAL", "t1.egov.payment.settlements.v1", "WRITE")
    added = Acl("t1.egov-portal", "TOPIC", "LITERAL", "t1.egov.onestop.journeys.v1", "READ")
    other_tenant = Acl("t2.egov-portal", "TOPIC", "LITERAL", "t2.egov.onestop.journeys.v1", "READ")
    differences = compare(MODEL, P, (expected - {taken}) | {added, other_tenant})
    assert differences.missing == [taken]
    assert differences.extra == [added]  # another prefix's bindings are not this prefix's business
    assert differences.lines() == [f"missing: {taken}", f"not in the model: {added}"]
    assert compare(MODEL, P, expected).ok
