"""The typed registry of topics: every topic's name, single owner (writer), key and event types.

No service writes a topic name as a string literal: it names a `TopicSpec` from here. Names follow
`egov.<owner>.<stream>.v<major>` (docs/adr/0004-topic-naming-and-ownership.md); a settings prefix
(`EGOV_TOPIC_PREFIX`) is put in front at run time so tests and tenants never share topics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class EventTypes:
    """CloudEvents `ce_type` of each event: the full name of its Avro contract."""

    DOSSIER_SUBMITTED = "vn.egov.dossier.DossierSubmitted"
    DOSSIER_RECEIVED = "vn.egov.dossier.DossierReceived"
    DOSSIER_STATUS_CHANGED = "vn.egov.dossier.DossierStatusChanged"
    IDENTITY_VERIFICATION_REQUESTED = "vn.egov.dossier.IdentityVerificationRequested"
    IDENTITY_VERIFICATION_ANSWERED = "vn.egov.dossier.IdentityVerificationAnswered"
    DOSSIER_ASSIGNED = "vn.egov.dossier.DossierAssigned"
    AGENCY_DECISION_MADE = "vn.egov.dossier.AgencyDecisionMade"
    SUPPLEMENT_REQUESTED = "vn.egov.dossier.SupplementRequested"
    SUPPLEMENT_SUPPLIED = "vn.egov.dossier.SupplementSupplied"
    FEE_REQUESTED = "vn.egov.dossier.FeeRequested"
    FEE_SETTLED = "vn.egov.dossier.FeeSettled"
    RESULT_RETURNED = "vn.egov.dossier.ResultReturned"
    DOSSIER_OVERDUE = "vn.egov.dossier.DossierOverdue"
    POPULATION_LOOKUP_REQUESTED = "vn.egov.lgsp.PopulationLookupRequested"
    POPULATION_LOOKUP_ANSWERED = "vn.egov.lgsp.PopulationLookupAnswered"
    NOTIFICATION_SENT = "vn.egov.notify.NotificationSent"
    DOCUMENT_DRAFTED = "vn.egov.document.DocumentDrafted"
    DOCUMENT_REGISTERED = "vn.egov.document.DocumentRegistered"
    DOCUMENT_APPROVED = "vn.egov.document.DocumentApproved"
    SIGNATURE_REQUESTED = "vn.egov.document.SignatureRequested"
    SIGNATURE_COMPLETED = "vn.egov.document.SignatureCompleted"
    DOCUMENT_ISSUED = "vn.egov.document.DocumentIssued"
    DOCUMENT_DELIVERED = "vn.egov.document.DocumentDelivered"
    DOCUMENT_STATUS_PACKET = "vn.egov.document.DocumentStatusPacket"
    DOCUMENT_RECALL_REQUESTED = "vn.egov.document.DocumentRecallRequested"
    DEAD_LETTER = "vn.egov.ops.DeadLetter"
    TIMER_FIRED = "vn.egov.ops.TimerFired"


@dataclass(frozen=True)
class TopicSpec:
    """A topic of the architecture.

    `key` names the field of its events whose value is every record's key (a dotted path for a nested
    field: `issuing_agency.code`); consumers refuse an event under another key, and an event of the topic
    without that field. None says the key is not a field of the events (the LGSP's requests to a national
    system are keyed by their caller's key); `key_doc` then says what it is.
    """

    name: str
    owner: str
    key: str | None
    events: tuple[str, ...]
    doc: str
    key_doc: str = ""
    internal: bool = False

    def __post_init__(self) -> None:
        if self.key is None and not self.key_doc:
            raise ValueError(f"{self.name}: a topic whose key is not a field says what its key is (key_doc)")

    def full_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}"

    @property
    def key_description(self) -> str:
        """The key as a person reads it: the field, or what the key is when it is not a field."""
        return self.key_doc or f"{self.key}"


def key_of(spec: TopicSpec, record: Mapping[str, Any]) -> str | None:
    """The key a record of `spec`'s topic must carry: the value of its key field (None when the record lacks
    it, or when the topic's key is not a field)."""
    if spec.key is None:
        return None
    value: Any = record
    for part in spec.key.split("."):
        if not isinstance(value, Mapping) or value.get(part) is None:
            return None
        value = value[part]
    return str(value)


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
        key=None,
        key_doc="the receiving agency's code, from the procedure catalogue (not a field of DossierSubmitted)",
        events=(EventTypes.DOSSIER_SUBMITTED,),
        doc="Submissions re-keyed by receiving agency, so each agency's daily sequence has one writer.",
        internal=True,
    )
    PORTAL_RECEIPTS = TopicSpec(
        name="egov.portal.receipts-by-submission.v1",
        owner="portal",
        key="submission_id",
        events=(EventTypes.DOSSIER_RECEIVED,),
        doc="The one-stop system's receipts, unchanged, re-keyed by submission id: a submission's dossier "
        "code then sits on its submission's partition, whichever worker of the portal holds it.",
        internal=True,
    )
    PORTAL_SUBMISSIONS_BY_DOSSIER = TopicSpec(
        name="egov.portal.submissions-by-dossier.v1",
        owner="portal",
        key=None,
        key_doc="the dossier code the one-stop system gave the submission (not a field of DossierSubmitted)",
        events=(EventTypes.DOSSIER_SUBMITTED,),
        doc="Each received submission, unchanged, re-keyed by its dossier code: who may follow a dossier "
        "(its applicant) then sits on the dossier's partition, with its status and history.",
        internal=True,
    )
    SUPPLEMENTS = TopicSpec(
        name="egov.portal.supplements.v1",
        owner="portal",
        key="dossier_code",
        events=(EventTypes.SUPPLEMENT_SUPPLIED,),
        doc="What citizens supply when the one-stop system asks them to complete a dossier.",
    )
    DOSSIERS = TopicSpec(
        name="egov.onestop.dossiers.v1",
        owner="onestop",
        key="dossier_code",
        events=(
            EventTypes.DOSSIER_RECEIVED,
            EventTypes.DOSSIER_STATUS_CHANGED,
            EventTypes.DOSSIER_ASSIGNED,
            EventTypes.SUPPLEMENT_REQUESTED,
            EventTypes.FEE_REQUESTED,
            EventTypes.RESULT_RETURNED,
            EventTypes.DOSSIER_OVERDUE,
        ),
        doc="The life of each dossier in the one-stop system, in order per dossier code.",
    )
    JOURNEYS = TopicSpec(
        name="egov.onestop.journeys.v1",
        owner="onestop",
        key="dossier_code",
        events=(EventTypes.DOSSIER_RECEIVED,),
        doc="Each received dossier with its applicant, where onestop starts the dossier's journey: the "
        "identity check needs the ID number, which the dossiers topic (read by other services) leaves out.",
        internal=True,
    )
    ONESTOP_TO_LGSP = TopicSpec(
        name="egov.onestop.lgsp-requests.v1",
        owner="onestop",
        key="dossier_code",
        events=(EventTypes.IDENTITY_VERIFICATION_REQUESTED, EventTypes.DOSSIER_ASSIGNED),
        doc="What the one-stop system asks of the LGSP: identity checks with the national population "
        "database, and dossiers to deliver to the responsible agency's case system.",
    )
    LGSP_TO_ONESTOP = TopicSpec(
        name="egov.lgsp.onestop-deliveries.v1",
        owner="lgsp",
        key="dossier_code",
        events=(
            EventTypes.IDENTITY_VERIFICATION_ANSWERED,
            EventTypes.SUPPLEMENT_REQUESTED,
            EventTypes.AGENCY_DECISION_MADE,
        ),
        doc="What the LGSP delivers to the one-stop system: answers to its requests (on time, or TIMEOUT) "
        "and the case systems' supplement requests and decisions.",
    )
    LGSP_TO_AGENCIES = TopicSpec(
        name="egov.lgsp.agency-deliveries.v1",
        owner="lgsp",
        key="dossier_code",
        events=(EventTypes.DOSSIER_ASSIGNED,),
        doc="Dossiers the LGSP delivers to the departments' case systems; each takes those addressed to "
        "its agency code.",
    )
    POPULATION_REQUESTS = TopicSpec(
        name="egov.lgsp.population-requests.v1",
        owner="lgsp",
        key=None,
        key_doc="the caller's key (the answer returns on the partition holding the pending request)",
        events=(EventTypes.POPULATION_LOOKUP_REQUESTED,),
        doc="Look-ups the LGSP forwards to the national population database through the NGSP.",
    )
    POPULATION_ANSWERS = TopicSpec(
        name="egov.population.answers.v1",
        owner="population",
        key=None,
        key_doc="the request's key, echoed",
        events=(EventTypes.POPULATION_LOOKUP_ANSWERED,),
        doc="The national population database's answers, by correlation id.",
    )
    CASE_EVENTS = TopicSpec(
        name="egov.agency.case-events.v1",
        owner="agency",
        key="dossier_code",
        events=(EventTypes.SUPPLEMENT_REQUESTED, EventTypes.AGENCY_DECISION_MADE),
        doc="What a department's case system decides about the dossiers assigned to it, for the LGSP to "
        "deliver to the one-stop system.",
    )
    SETTLEMENTS = TopicSpec(
        name="egov.payment.settlements.v1",
        owner="payment",
        key="dossier_code",
        events=(EventTypes.FEE_SETTLED,),
        doc="Fees settled at the national payment platform, at most once per payment reference.",
    )
    NOTIFICATIONS = TopicSpec(
        name="egov.notify.notifications.v1",
        owner="notify",
        key="dossier_code",
        events=(EventTypes.NOTIFICATION_SENT,),
        doc="Every message sent to a citizen, with the recipient masked.",
    )

    DOCUMENT_DRAFTS = TopicSpec(
        name="egov.documents.drafts.v1",
        owner="documents",
        key="issuing_agency.code",
        events=(EventTypes.DOCUMENT_DRAFTED,),
        doc="Outgoing documents submitted for registration, keyed by issuing agency, so that each agency's "
        "register of outgoing documents is numbered by one writer.",
        internal=True,
    )
    OUTGOING_DOCUMENTS = TopicSpec(
        name="egov.documents.outgoing.v1",
        owner="documents",
        key="document_id",
        events=(
            EventTypes.DOCUMENT_REGISTERED,
            EventTypes.DOCUMENT_APPROVED,
            EventTypes.SIGNATURE_REQUESTED,
            EventTypes.DOCUMENT_ISSUED,
            EventTypes.DOCUMENT_RECALL_REQUESTED,
        ),
        doc="The life of each outgoing official document: registered, approved, sent for signature, issued, "
        "recalled.",
    )
    DOCUMENT_STATUS = TopicSpec(
        name="egov.documents.status-packets.v1",
        owner="documents",
        key="document_id",
        events=(EventTypes.DOCUMENT_STATUS_PACKET,),
        doc="edXML status packets the recipients of a document send to its sender, through the LGSP.",
    )
    SIGNATURES = TopicSpec(
        name="egov.signing.signatures.v1",
        owner="signing",
        key="document_id",
        events=(EventTypes.SIGNATURE_COMPLETED,),
        doc="Detached CMS signatures made by the signing platform, with the signer's certificate chain.",
    )
    LGSP_DOCUMENTS = TopicSpec(
        name="egov.lgsp.document-deliveries.v1",
        owner="lgsp",
        key="document_id",
        events=(
            EventTypes.DOCUMENT_ISSUED,
            EventTypes.DOCUMENT_DELIVERED,
            EventTypes.DOCUMENT_STATUS_PACKET,
            EventTypes.DOCUMENT_RECALL_REQUESTED,
        ),
        doc="Documents, recalls and status packets the LGSP delivers between agencies, each checked against "
        "the province's agency codes.",
    )

    @classmethod
    def all(cls) -> list[TopicSpec]:
        return [v for v in vars(cls).values() if isinstance(v, TopicSpec)]


def dead_letters(service: str) -> TopicSpec:
    """The dead-letter topic of `service`: what it could not decode or validate, with the reason."""
    return TopicSpec(
        name=f"egov.{service}.dead-letters.v1",
        owner=service,
        key=None,
        key_doc="the original key",
        events=(EventTypes.DEAD_LETTER,),
        doc=f"Messages {service} could not process: DeadLetter events holding the original bytes and "
        "headers, the reason and the origin (topic, partition, offset).",
    )


def timers(service: str) -> TopicSpec:
    """The internal topic of `service`'s durable timers (egov.runtime.timers)."""
    return TopicSpec(
        name=f"egov.{service}.timers.v1",
        owner=service,
        key="key",
        key_doc="the business key the timer belongs to (its `key` field)",
        events=(EventTypes.TIMER_FIRED,),
        doc=f"Timers of {service} that came due; read back by {service} on the partition of their key.",
        internal=True,
    )
