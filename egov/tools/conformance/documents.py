"""The documents role: an agency's document management system as the recipient of official documents,
played against by the LGSP delivering them and by the sending agency's document system.

The kit issues documents from another agency of the province to the vendor's agency, signed as the signing
platform would sign them, with an official's certificate of the province's test CA (`EGOV_CA_DIR`, default
`<state dir>/ca`: the recipient must trust its `public/root.pem`), delivers them as the LGSP does
(`DocumentIssued`, then `DocumentDelivered` for the recipient) and reads the status packets the vendor's
system writes. Scenarios, each with its own documents:

- a signed document: 01, 03, 04, 05, 06 in order, each once;
- a file changed after signing, a signature of a CA the province does not trust, an unsigned document: 01,
  then 02 with the reason, and nothing after;
- a recall (13) of a document once accepted (03): one answer, 15 or 16;
- the same document delivered twice (the same ce_id and bytes): each status once;
- two documents interleaved: each reported as itself;
- a document addressed to another agency only: no packet from the vendor's agency;
- poison (played last): bad bytes, an unknown fingerprint, a document off its contract (an issuing agency
  code of no QCVN 102:2016 or QĐ 20/2020 form) and one without CloudEvents headers, on the partition of the
  next document, which must still be reported; the off-contract ones must not be.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from egov.contracts.envelope import Envelope
from egov.contracts.topics import EventTypes
from egov.contracts.validation import get_validator
from egov.platform import pki
from egov.platform.province import initials
from egov.tools.conformance.checks import Envelopes, Verdict, ce_time, verdict, where
from egov.tools.conformance.context import Context
from egov.tools.conformance.wire import Observed
from services.signing.ca import CertificateAuthority

PACKET = EventTypes.DOCUMENT_STATUS_PACKET
#: The sending agency's document system issues and recalls; the LGSP delivers and records each delivery.
SENDER_SOURCE = "/egov/documents"
LGSP_SOURCE = "/egov/lgsp"
DELIVERER = "lgsp"
THROUGH_06 = ["ARRIVED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS", "COMPLETED"]
REFUSAL = ["ARRIVED", "REFUSED"]
RECALL_ANSWERS = ("RECALL_ACCEPTED", "RECALL_REFUSED")


@dataclass
class Document:
    """A document of the run and what the kit sent about it."""

    document_id: str
    number: int
    symbol: str
    promulgation: dt.date
    recipients: list[dict[str, str]]
    purpose: str
    sent: list[Observed] = field(default_factory=list)


class DocumentScenarios:
    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.role = context.role
        self.deliveries = self.role.reads[0].topic
        self.packets_topic = self.role.writes[0].topic
        agency = context.agency
        self.mine = {"code": agency.code, "name": agency.name}
        sender = context.other_agency(("department", "committee", "centre"))
        self.sender = {"code": sender.code, "name": sender.name}
        third = next(a for a in context.province.agencies if a.code not in (agency.code, sender.code))
        self.third = {"code": third.code, "name": third.name}
        self.symbol = f"{initials(sender.name)}-VP"
        self.codes = self._status_codes()
        self.documents: dict[str, Document] = {}
        self.counter = 0
        self.ca = CertificateAuthority(context.settings.ca_directory)
        self.named: dict[str, Document] = {}
        self.poisoned: list[Observed] = []
        self.off_contract_ids: list[str] = []
        self.recall_sent: Observed | None = None

    def _status_codes(self) -> dict[str, str]:
        schema = self.ctx.exchange.registry.standalone("vn.egov.document.DocumentStatus")
        return dict(schema.get("x-codes", {}))

    def shown(self, statuses: Iterable[str]) -> str:
        return ", ".join(f"{self.codes.get(s, '?')} {s}" for s in statuses) or "none"

    # -- documents and deliveries ----------------------------------------------------------------------
    def new_document(
        self, purpose: str, *, recipients: list[dict[str, str]] | None = None, partition: int | None = None
    ) -> Document:
        today = self.ctx.clock.now().astimezone(self.ctx.zone).date()
        while True:
            self.counter += 1
            number = self.ctx.run_number * 1000 + self.counter
            document_id = f"{self.sender['code']},{today:%Y/%m/%d},{number}/{self.symbol}"
            if partition is None or self.ctx.exchange.partition_of(self.deliveries, document_id) == partition:
                break
        document = Document(document_id, number, self.symbol, today, recipients or [dict(self.mine)], purpose)
        self.documents[document_id] = document
        return document

    def signer(self) -> dict[str, Any]:
        """The sending agency's director, a fictional official with a certificate of the test CA."""
        return {
            "official_id": f"{self.sender['code']}/giam-doc-kiem-thu",
            "full_name": "Nguyễn Văn Kiểm",
            "position": "Giám đốc",
            "agency": dict(self.sender),
        }

    def issued(
        self,
        document: Document,
        content: bytes,
        *,
        signed: bytes | None = None,
        identity: pki.Identity | None = None,
        chain: list[Any] | None = None,
    ) -> dict[str, Any]:
        """The DocumentIssued of `document` with `content`, signed over `signed` (default: the content) by
        `identity` (default: the sender's director) with the `chain` (default: the test CA's); unsigned when
        `signed` is b""."""
        now = self.ctx.clock.now()
        signature, certificates = b"", []
        if signed != b"":
            self.ca.ensure(now)
            who = identity or self.ca.official(self.signer(), now)
            intermediates = self.ca.chain() if chain is None else chain
            signature = pki.sign_digest(
                hashlib.sha256(content if signed is None else signed).digest(),
                who,
                intermediates,
                signing_time=now,
            )
            certificates = [pki.pem(who.certificate), *(pki.pem(c) for c in intermediates)]
        return {
            "document_id": document.document_id,
            "issuing_agency": dict(self.sender),
            "recipients": [dict(r) for r in document.recipients],
            "number": document.number,
            "symbol": document.symbol,
            "document_type": "Công văn",
            "summary": f"Về việc kiểm thử tuân thủ ({document.purpose})",
            "promulgation_date": document.promulgation,
            "content": {
                "file_name": "cong-van.txt",
                "media_type": "text/plain; charset=utf-8",
                "size_bytes": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            },
            "content_data": content,
            "signature": signature,
            "certificate_chain": certificates,
            "issued_at": now,
        }

    def content(self, document: Document) -> bytes:
        return f"Công văn số {document.number}/{document.symbol}: {document.purpose}.".encode()

    async def deliver(
        self, document: Document, record: dict[str, Any], note: str, *, twice: bool = False
    ) -> Observed:
        """The document as the LGSP delivers it: DocumentIssued, then DocumentDelivered for each recipient."""
        exchange = self.ctx.exchange
        sent = await exchange.send_event(
            self.deliveries,
            EventTypes.DOCUMENT_ISSUED,
            record,
            key=document.document_id,
            source=SENDER_SOURCE,
            writer=DELIVERER,
            note=note,
        )
        document.sent.append(sent)
        if twice:
            document.sent.append(
                await exchange.send(
                    self.deliveries,
                    key=sent.key,
                    value=sent.value,
                    headers=sent.raw_headers,
                    note=f"{note} (delivered again: the same ce_id)",
                )
            )
        for recipient in document.recipients:
            delivered = {
                "document_id": document.document_id,
                "recipient": dict(recipient),
                "delivered_at": self.ctx.clock.now(),
            }
            document.sent.append(
                await exchange.send_event(
                    self.deliveries,
                    EventTypes.DOCUMENT_DELIVERED,
                    delivered,
                    key=document.document_id,
                    source=LGSP_SOURCE,
                    writer=DELIVERER,
                    note=f"the LGSP's record of the delivery to {recipient['code']}",
                )
            )
        return sent

    async def send_signed(
        self,
        purpose: str,
        *,
        recipients: list[dict[str, str]] | None = None,
        partition: int | None = None,
        twice: bool = False,
    ) -> Document:
        document = self.new_document(purpose, recipients=recipients, partition=partition)
        await self.deliver(
            document,
            self.issued(document, self.content(document)),
            f"a signed document ({purpose})",
            twice=twice,
        )
        return document

    # -- what the vendor wrote -------------------------------------------------------------------------
    def outputs(self) -> list[Observed]:
        return self.ctx.exchange.received(self.packets_topic)

    def id_of(self, record: Observed) -> str | None:
        found = record.field("document_id")
        return str(found) if found else (record.key or record.headers.get("ce_subject"))

    def packets(
        self, document: Document, *, sender: str | None = None, after: Observed | None = None
    ) -> list[Observed]:
        """The vendor's packets about a document (from `sender`, by default the vendor's agency), distinct by
        ce_id, in the order read."""
        code = sender or self.mine["code"]
        seen: dict[str, Observed] = {}
        for r in self.outputs():
            if self.id_of(r) != document.document_id or (after is not None and r.sequence <= after.sequence):
                continue
            if (r.field("sender") or {}).get("code") != code:
                continue
            seen.setdefault(r.ce_id or f"#{r.sequence}", r)
        return sorted(seen.values(), key=lambda o: o.sequence)

    def statuses(self, document: Document, **kwargs: Any) -> list[str]:
        return [str(p.field("status")) for p in self.packets(document, **kwargs)]

    async def until_status(
        self, document: Document, wanted: Iterable[str], *, after: Observed | None = None
    ) -> bool:
        targets = set(wanted)
        found = await self.ctx.exchange.wait_for(
            lambda: targets & set(self.statuses(document, after=after)), self.ctx.timing.timeout
        )
        return bool(found)

    # -- scenarios -------------------------------------------------------------------------------------
    async def play(self) -> None:
        self.ca.ensure(self.ctx.clock.now())
        await asyncio.gather(
            self.happy_path(),
            self.changed_file(),
            self.untrusted_signature(),
            self.unsigned(),
            self.recall(),
            self.redelivery(),
            self.interleaving(),
            self.another_agency(),
        )
        await self.poison()

    async def happy_path(self) -> None:
        document = self.named["happy"] = await self.send_signed("happy path")
        await self.until_status(document, ["COMPLETED", "REFUSED"])

    async def refused(self, name: str, record: dict[str, Any], note: str, document: Document) -> None:
        self.named[name] = document
        await self.deliver(document, record, note)
        await self.until_status(document, ["REFUSED", "ACCEPTED"])

    async def changed_file(self) -> None:
        document = self.new_document("changed after signing")
        original = self.content(document)
        record = self.issued(document, original + " (đã sửa)".encode(), signed=original)
        record["content"]["sha256"] = hashlib.sha256(record["content_data"]).hexdigest()
        await self.refused("changed", record, "its file changed after it was signed", document)

    async def untrusted_signature(self) -> None:
        document = self.new_document("signed under an untrusted CA")
        now = self.ctx.clock.now()
        root_key, key = pki.new_key(), pki.new_key()
        root = pki.Identity(
            root_key,
            pki.root_certificate(
                "Rogue Root CA (conformance kit)",
                root_key,
                not_before=now - dt.timedelta(days=1),
                not_after=now + dt.timedelta(days=3650),
            ),
        )
        signer = self.signer()
        rogue = pki.Identity(
            key,
            pki.issue_certificate(
                root,
                pki.official_name(
                    signer["official_id"],
                    signer["full_name"],
                    signer["position"],
                    self.sender["code"],
                    self.sender["name"],
                ),
                key.public_key(),
                not_before=now - dt.timedelta(days=1),
                not_after=now + dt.timedelta(days=365),
                ca=False,
            ),
        )
        record = self.issued(document, self.content(document), identity=rogue, chain=[])
        await self.refused(
            "untrusted", record, "signed with a certificate of a CA the province does not trust", document
        )

    async def unsigned(self) -> None:
        document = self.new_document("unsigned")
        record = self.issued(document, self.content(document), signed=b"")
        await self.refused("unsigned", record, "an unsigned document", document)

    async def recall(self) -> None:
        document = self.named["recall"] = await self.send_signed("to be recalled")
        if not await self.until_status(document, ["ACCEPTED", "REFUSED"]):
            return
        if "ACCEPTED" not in self.statuses(document):
            return
        request = {
            "document_id": document.document_id,
            "sender": dict(self.sender),
            "recipients": [dict(r) for r in document.recipients],
            "reason": "Văn bản có sai sót, đề nghị thu hồi (kiểm thử tuân thủ).",
            "requested_at": self.ctx.clock.now(),
            "requested_by": None,
        }
        self.recall_sent = await self.ctx.exchange.send_event(
            self.deliveries,
            EventTypes.DOCUMENT_RECALL_REQUESTED,
            request,
            key=document.document_id,
            source=SENDER_SOURCE,
            writer=DELIVERER,
            note="the sender asks for the document back (13)",
        )
        document.sent.append(self.recall_sent)
        await self.until_status(document, RECALL_ANSWERS, after=self.recall_sent)

    async def redelivery(self) -> None:
        document = self.named["redelivered"] = await self.send_signed("delivered twice", twice=True)
        await self.until_status(document, ["COMPLETED", "REFUSED"])

    async def interleaving(self) -> None:
        first, second = self.new_document("interleaved, first"), self.new_document("interleaved, second")
        self.named["first"], self.named["second"] = first, second
        exchange = self.ctx.exchange
        records = [(d, self.issued(d, self.content(d))) for d in (first, second)]
        for d, record in records:  # both issued, then both delivered: their records interleave
            d.sent.append(
                await exchange.send_event(
                    self.deliveries,
                    EventTypes.DOCUMENT_ISSUED,
                    record,
                    key=d.document_id,
                    source=SENDER_SOURCE,
                    writer=DELIVERER,
                    note="interleaved with the other document",
                )
            )
        for d, _ in records:
            delivered = {
                "document_id": d.document_id,
                "recipient": dict(self.mine),
                "delivered_at": self.ctx.clock.now(),
            }
            d.sent.append(
                await exchange.send_event(
                    self.deliveries,
                    EventTypes.DOCUMENT_DELIVERED,
                    delivered,
                    key=d.document_id,
                    source=LGSP_SOURCE,
                    writer=DELIVERER,
                    note=f"the LGSP's record of the delivery to {self.mine['code']}",
                )
            )
        await asyncio.gather(*(self.until_status(d, ["COMPLETED", "REFUSED"]) for d in (first, second)))

    async def another_agency(self) -> None:
        document = self.named["other"] = await self.send_signed(
            "addressed to another agency", recipients=[dict(self.third)]
        )
        partition = document.sent[0].partition
        sentinel = self.named["other-sentinel"] = await self.send_signed(
            "sent after the one for another agency", partition=partition
        )
        await self.until_status(sentinel, ["ARRIVED"])

    async def poison(self) -> None:
        target = self.named["after-poison"] = self.new_document("after poison")
        partition = self.ctx.exchange.partition_of(self.deliveries, target.document_id)
        now = self.ctx.clock.now()
        registry = self.ctx.exchange.registry

        def headers(subject: str) -> list[tuple[str, bytes]]:
            envelope = Envelope.new(
                source=SENDER_SOURCE, type=EventTypes.DOCUMENT_ISSUED, subject=subject, time=now
            )
            return [*envelope.to_headers(), ("egov_writer", DELIVERER.encode())]

        good = registry.encode(EventTypes.DOCUMENT_ISSUED, self.issued(target, self.content(target)))
        off = self.new_document("off contract", partition=partition)
        off_record = {
            **self.issued(off, self.content(off)),
            "issuing_agency": {"code": "SO-KHONG-HOP-LE", "name": "?"},
        }
        headerless = self.new_document("no CloudEvents headers", partition=partition)
        self.off_contract_ids = [off.document_id, headerless.document_id]
        send = self.ctx.exchange.send
        key = target.document_id
        self.poisoned = [
            await send(
                self.deliveries,
                key=key,
                value=b"not avro at all",
                headers=headers(key),
                note="poison: bad bytes",
            ),
            await send(
                self.deliveries,
                key=key,
                value=b"\xc3\x01" + os.urandom(8) + good[10:],
                headers=headers(key),
                note="poison: an unknown fingerprint",
            ),
            await send(
                self.deliveries,
                key=off.document_id,
                value=registry.encode(EventTypes.DOCUMENT_ISSUED, off_record),
                headers=headers(off.document_id),
                note="poison: off contract (issuing agency code 'SO-KHONG-HOP-LE')",
            ),
            await send(
                self.deliveries,
                key=headerless.document_id,
                value=registry.encode(
                    EventTypes.DOCUMENT_ISSUED, self.issued(headerless, self.content(headerless))
                ),
                headers=[],
                note="poison: a valid document without CloudEvents headers",
            ),
        ]
        await self.deliver(
            target, self.issued(target, self.content(target)), "a signed document after the poison"
        )
        await self.until_status(target, ["ARRIVED"])

    # -- verdicts --------------------------------------------------------------------------------------
    def verdicts(self) -> list[Verdict]:
        ours = [r for r in self.outputs() if self.id_of(r) in self.documents]
        envelopes = Envelopes(
            self.role, self.ctx.exchange.registry, get_validator(), lambda r: self.id_of(r), "documents"
        )
        return [
            self.sequence_verdict("documents.reports-a-signed-document", self.named["happy"], THROUGH_06),
            self.sequence_verdict("documents.refuses-a-changed-file", self.named["changed"], REFUSAL),
            self.sequence_verdict(
                "documents.refuses-an-untrusted-signature", self.named["untrusted"], REFUSAL
            ),
            self.sequence_verdict("documents.refuses-an-unsigned-document", self.named["unsigned"], REFUSAL),
            self.answers_a_recall(),
            envelopes.key(ours),
            envelopes.headers(ours),
            envelopes.source(ours),
            envelopes.released(ours),
            envelopes.rules(ours),
            self.addressed_right(ours),
            self.business_time(ours),
            self.ignores_documents_for_others(),
            self.redelivery_changes_nothing(),
            self.interleaved_documents(),
            *self.poison_verdicts(),
        ]

    def transcript(self, *documents: Document | None) -> list[Observed]:
        records: list[Observed] = []
        for d in documents:
            if d is not None:
                records += d.sent + [r for r in self.outputs() if self.id_of(r) == d.document_id]
        return records

    def sequence_problems(self, document: Document, expected: list[str]) -> list[str]:
        got = self.statuses(document)
        problems = []
        if got != expected:
            problems.append(f"{document.document_id}: {self.shown(got)}; expected {self.shown(expected)}")
        if expected == REFUSAL:
            refusals = [p for p in self.packets(document) if p.field("status") == "REFUSED"]
            if refusals and not str(refusals[0].field("description") or "").strip():
                problems.append(f"{where(refusals[0])}: 02 without a reason (description)")
        return problems

    def sequence_verdict(self, check_id: str, document: Document, expected: list[str]) -> Verdict:
        problems = self.sequence_problems(document, expected)
        reason = ""
        if expected == REFUSAL and not problems:
            refusal = next(p for p in self.packets(document) if p.field("status") == "REFUSED")
            reason = f": {refusal.field('description')}"
        return verdict(
            self.role,
            check_id,
            problems,
            passed_reason=f"{document.purpose}: {self.shown(expected)}{reason}",
            failed_reason=f"{document.purpose}: the status packets are not {self.shown(expected)}, in "
            "this order, each once",
            records=self.transcript(document),
        )

    def answers_a_recall(self) -> Verdict:
        document = self.named["recall"]
        problems = []
        if self.recall_sent is None:
            problems.append(
                f"{document.document_id} was never accepted (03), so no recall was sent: "
                f"{self.shown(self.statuses(document))}"
            )
            answers: list[str] = []
        else:
            answers = [s for s in self.statuses(document, after=self.recall_sent) if s in RECALL_ANSWERS]
            if len(answers) != 1:
                problems.append(
                    f"{document.document_id}: {len(answers)} answers to the recall ({self.shown(answers)})"
                )
        return verdict(
            self.role,
            "documents.answers-a-recall",
            problems,
            passed_reason=f"the recall was answered {self.shown(answers)}",
            failed_reason="a recall (13) was not answered exactly once with 15 or 16",
            records=self.transcript(document),
        )

    def addressed_right(self, ours: list[Observed]) -> Verdict:
        problems, at_fault = [], []
        for r in ours:
            document = self.documents.get(self.id_of(r) or "")
            if document is None or r.record is None:
                continue
            found = []
            response = r.field("response_for") or {}
            if r.field("document_id") != document.document_id:
                found.append(f"document_id is {r.field('document_id')!r}")
            if response.get("organ_id") != self.sender["code"]:
                found.append(
                    f"response_for.organ_id is {response.get('organ_id')!r}, not the issuer "
                    f"{self.sender['code']}"
                )
            if response.get("code") != f"{document.number}/{document.symbol}":
                found.append(
                    f"response_for.code is {response.get('code')!r}, not {document.number}/{document.symbol}"
                )
            if response.get("promulgation_date") != document.promulgation:
                found.append(
                    f"response_for.promulgation_date is {response.get('promulgation_date')}, not "
                    f"{document.promulgation}"
                )
            sender = (r.field("sender") or {}).get("code")
            if sender not in {x["code"] for x in document.recipients}:
                found.append(f"it comes from {sender}, which the document is not addressed to")
            problems += [f"{where(r)}: {f}" for f in found]
            if found:
                at_fault.append(r)
        return verdict(
            self.role,
            "documents.addressed-right",
            problems,
            passed_reason=f"all {len(ours)} packets name their document and come from one of its recipients",
            failed_reason="packets do not name the document they answer, or come from an agency it "
            "is not addressed to",
            records=at_fault or ours,
        )

    def business_time(self, ours: list[Observed]) -> Verdict:
        problems, at_fault = [], []
        slack = self.ctx.tolerance
        for r in ours:
            document = self.documents.get(self.id_of(r) or "")
            if document is None or not document.sent:
                continue
            first, last = document.sent[0].at - slack, r.at + slack
            for name, value in (("ce_time", ce_time(r)), ("timestamp", r.field("timestamp"))):
                if isinstance(value, dt.datetime) and not first <= value <= last:
                    problems.append(
                        f"{where(r)}: {name} {value.isoformat()} is outside the business time of the "
                        "exchange "
                        f"({document.sent[0].at.isoformat()} to {r.at.isoformat()})"
                    )
                    at_fault.append(r)
        return verdict(
            self.role,
            "documents.business-time",
            problems,
            passed_reason="every packet is dated in the business time of the exchange (clock speed "
            f"{self.ctx.clock.speed:g})",
            failed_reason="packets are dated outside the business time of the exchange: the system's "
            "clock is not the "
            "stack's (set EGOV_CLOCK_SPEED and EGOV_CLOCK_ANCHOR as the kit has them)",
            records=at_fault or ours,
        )

    def ignores_documents_for_others(self) -> Verdict:
        document, sentinel = self.named["other"], self.named["other-sentinel"]
        wrong = self.packets(document)
        problems = [
            f"{where(p)}: {self.shown([str(p.field('status'))])} from {self.mine['code']}" for p in wrong
        ]
        if not problems and not self.packets(sentinel):
            problems.append(
                f"the document sent after it on its partition ({sentinel.document_id}) got no packet, "
                "so the absence of one proves nothing"
            )
        return verdict(
            self.role,
            "documents.ignores-documents-for-others",
            problems,
            passed_reason=f"no packet from {self.mine['code']} for a document addressed to "
            f"{self.third['code']} only",
            failed_reason="your agency reported on a document not addressed to it",
            records=self.transcript(document, sentinel),
        )

    def redelivery_changes_nothing(self) -> Verdict:
        document = self.named["redelivered"]
        got = self.statuses(document)
        problems = []
        twice = sorted({s for s in got if got.count(s) > 1})
        if twice:
            problems.append(
                f"{document.document_id}: reported more than once: {self.shown(twice)} ({self.shown(got)})"
            )
        if not got:
            problems.append(f"{document.document_id}: no packet at all")
        return verdict(
            self.role,
            "documents.redelivery-changes-nothing",
            problems,
            passed_reason=f"delivered twice with one ce_id, reported once: {self.shown(got)}",
            failed_reason="a document delivered again (the same ce_id) was reported again",
            records=self.transcript(document),
        )

    def interleaved_documents(self) -> Verdict:
        problems = []
        pair = [self.named["first"], self.named["second"]]
        for d in pair:
            problems += self.sequence_problems(d, THROUGH_06)
            problems += [
                f"{where(p)}: keyed {p.key!r}, about {d.document_id}"
                for p in self.packets(d)
                if p.key != d.document_id
            ]
        return verdict(
            self.role,
            "documents.interleaved-documents",
            problems,
            passed_reason=f"both interleaved documents were reported {self.shown(THROUGH_06)}, each "
            "under its own id",
            failed_reason="interleaved documents were not each reported as themselves",
            records=self.transcript(*pair),
        )

    def poison_verdicts(self) -> list[Verdict]:
        target = self.named["after-poison"]
        reported = self.packets(target)
        letters = [
            r
            for r in self.ctx.exchange.received(self.role.dead_letters)
            if r.key in {p.key for p in self.poisoned}
        ]
        if self.role.dead_letters in self.ctx.exchange.unreadable:
            noted = f"(the kit may not read {self.role.dead_letters})"
        else:
            noted = f"{len(letters)} dead letter(s) on {self.role.dead_letters} for them"
        goes_on = verdict(
            self.role,
            "documents.goes-on-after-poison",
            []
            if reported
            else [
                f"{target.document_id}, sent after {len(self.poisoned)} bad records on its partition, "
                "got no packet"
            ],
            passed_reason=f"the document sent after {len(self.poisoned)} bad records on its partition "
            "was reported "
            f"({self.shown(self.statuses(target))}); {noted}",
            failed_reason="after bad records the system stopped serving the partition (crashed or stuck); "
            + noted,
            records=[*self.poisoned, *self.transcript(target), *letters],
        )
        acted = [r for r in self.outputs() if self.id_of(r) in self.off_contract_ids]
        not_acted = verdict(
            self.role,
            "documents.poison-not-acted-on",
            [f"{where(r)}: a packet about {self.id_of(r)}" for r in acted],
            passed_reason="neither the off-contract document nor the one without CloudEvents headers "
            "was reported on",
            failed_reason="your system acted on a record that breaks its contract",
            records=[*self.poisoned, *acted],
        )
        return [goes_on, not_acted]
