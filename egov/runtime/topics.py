"""The typed registry of topics: every topic's name, single owner (writer), key and event types.

No service writes a topic name as a string literal: it names a `TopicSpec` from here. Names follow
`egov.<owner>.<stream>.v<major>` (docs/adr/0004-topic-naming-and-ownership.md); a settings prefix
(`EGOV_TOPIC_PREFIX`) is put in front at run time so tests and tenants never share topics.
"""

from __future__ import annotations

from dataclasses import dataclass


class EventTypes:
    """CloudEvents `ce_type` of each event: the full name of its Avro contract."""

    DOSSIER_SUBMITTED = "vn.egov.dossier.DossierSubmitted"
    DOSSIER_RECEIVED = "vn.egov.dossier.DossierReceived"
    DEAD_LETTER = "vn.egov.ops.DeadLetter"


@dataclass(frozen=True)
class TopicSpec:
    """A topic of the architecture."""

    name: str
    owner: str
    key: str
    events: tuple[str, ...]
    doc: str
    internal: bool = False

    def full_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}"


class Topics:
    """Every topic, by the name the code uses."""

    DOSSIER_SUBMISSIONS = TopicSpec(
        name="egov.portal.dossier-submissions.v1",
        owner="portal",
        key="submission_id",
        events=(EventTypes.DOSSIER_SUBMITTED,),
        doc="Dossiers as citizens submit them through an access channel, before they have a code.",
    )
    ONESTOP_INTAKE = TopicSpec(
        name="egov.onestop.intake-by-agency.v1",
        owner="onestop",
        key="receiving_agency_code",
        events=(EventTypes.DOSSIER_SUBMITTED,),
        doc="Submissions re-keyed by receiving agency, so each agency's daily sequence has one writer.",
        internal=True,
    )
    DOSSIERS = TopicSpec(
        name="egov.onestop.dossiers.v1",
        owner="onestop",
        key="dossier_code",
        events=(EventTypes.DOSSIER_RECEIVED,),
        doc="The life of each dossier in the one-stop system, in order per dossier code.",
    )

    @classmethod
    def all(cls) -> list[TopicSpec]:
        return [v for v in vars(cls).values() if isinstance(v, TopicSpec)]


#: The services whose dead-letter topics exist; each service owns its own.
SERVICES_WITH_DEAD_LETTERS = ("portal", "onestop")


def dead_letters(service: str) -> TopicSpec:
    """The dead-letter topic of `service`: what it could not decode or validate, with the reason."""
    return TopicSpec(
        name=f"egov.{service}.dead-letters.v1",
        owner=service,
        key="the original key",
        events=(EventTypes.DEAD_LETTER,),
        doc=f"Messages {service} could not process: DeadLetter events holding the original bytes and "
        "headers, the reason and the origin (topic, partition, offset).",
    )


def all_topics() -> list[TopicSpec]:
    return [*Topics.all(), *(dead_letters(s) for s in SERVICES_WITH_DEAD_LETTERS)]
