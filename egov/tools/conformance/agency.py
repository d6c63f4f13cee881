"""The agency role: a department's case system, played against by the LGSP delivering dossiers.

The kit assigns dossiers to the vendor's agency as the LGSP delivers them (`DossierAssigned`, written by the
one-stop system, forwarded by the LGSP) and reads what the vendor's system writes to the case-events topic
(`SupplementRequested`, `AgencyDecisionMade`). Scenarios, each with its own dossiers:

- the happy path: a dossier of the agency's procedure; a supplement request is answered as the citizen and the
  one-stop system would (the dossier assigned again, with a new deadline), until a decision; then the decided
  dossier is delivered again (a new ce_id): no second decision;
- a dossier assigned to another agency: no answer;
- the same assignment delivered twice (the same ce_id and bytes): one answer;
- two dossiers interleaved: each answered as itself;
- poison: bad bytes, an unknown fingerprint, an assignment off its contract (a dossier code of no
  Thông tư 03/2025 form) and one without CloudEvents headers, on the partition of the next dossier, which must
  still be answered; the off-contract ones must not be. Played last: a system that crashes on poison fails
  these checks, not the others.

An absence is judged when a dossier sent later on the same partition (a sentinel) has been answered, and over
everything read by the end of the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from egov.contracts.envelope import Envelope
from egov.contracts.topics import EventTypes
from egov.contracts.validation import get_validator
from egov.platform.province import Procedure
from egov.regulations.workdays import WorkingCalendar
from egov.tools.conformance.checks import Envelopes, Verdict, ce_time, verdict, where
from egov.tools.conformance.context import Context
from egov.tools.conformance.wire import Observed

DECISION = EventTypes.AGENCY_DECISION_MADE
SUPPLEMENT = EventTypes.SUPPLEMENT_REQUESTED
#: Who writes a DossierAssigned (the one-stop system), and who delivers it to the agencies (the LGSP).
ASSIGNMENT_SOURCE = "/egov/onestop"
DELIVERER = "lgsp"
#: The time field of each answer, its business date judged against the deadline.
TIME_FIELD = {DECISION: "decided_at", SUPPLEMENT: "requested_at"}


@dataclass
class Dossier:
    """A dossier of the run and what the kit sent about it."""

    code: str
    procedure: Procedure
    agency: dict[str, str]
    purpose: str
    assignments: list[Observed] = field(default_factory=list)
    deadlines: list[dt.date] = field(default_factory=list)


class AgencyScenarios:
    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.role = context.role
        self.deliveries = self.role.reads[0].topic
        self.case_events = self.role.writes[0].topic
        self.calendar = WorkingCalendar()
        self.dossiers: dict[str, Dossier] = {}
        self.counter = 0
        mine = [p for p in context.province.procedures if p.responsible_agency == context.agency.code]
        self.procedures = mine or list(context.province.procedures)
        self.agency_ref = {"code": context.agency.code, "name": context.agency.name}
        other = context.other_agency()
        self.other_ref = {"code": other.code, "name": other.name}
        # what the scenarios found on their way, for the verdicts
        self.happy: Dossier | None = None
        self.redelivered: Dossier | None = None
        self.other: Dossier | None = None
        self.interleaved: list[Dossier] = []
        self.after_poison: Dossier | None = None
        self.poisoned: list[Observed] = []
        self.off_contract_codes: list[str] = []
        self.sentinels: dict[str, Dossier] = {}
        self.delivered_after_decision: Observed | None = None

    # -- dossiers and assignments ----------------------------------------------------------------------
    def new_dossier(
        self, purpose: str, *, procedure: Procedure | None = None, partition: int | None = None
    ) -> Dossier:
        """A dossier of this run, with a code of the receiving agency of today (in the province), on
        `partition` when one is asked for."""
        procedure = procedure or self.procedures[0]
        today = self.ctx.clock.now().astimezone(self.ctx.zone)
        while True:
            self.counter += 1
            code = f"{procedure.receiving_agency}-{today:%y%m%d}-{self.ctx.run_number}{self.counter:03d}"
            if partition is None or self.ctx.exchange.partition_of(self.deliveries, code) == partition:
                break
        dossier = Dossier(code, procedure, dict(self.agency_ref), purpose)
        self.dossiers[code] = dossier
        return dossier

    def assignment(self, dossier: Dossier) -> dict[str, Any]:
        now = self.ctx.clock.now()
        local = now.astimezone(self.ctx.zone)
        deadline = self.calendar.appointment(
            local.replace(tzinfo=None), dossier.procedure.processing_days, dossier.procedure.processing_unit
        )
        return {
            "dossier_code": dossier.code,
            "procedure_code": dossier.procedure.code,
            "agency": dict(dossier.agency),
            "deadline": deadline,
            "assigned_at": now,
        }

    async def assign(self, dossier: Dossier, note: str, *, twice: bool = False) -> Observed:
        record = self.assignment(dossier)
        envelope = Envelope.new(
            source=ASSIGNMENT_SOURCE,
            type=EventTypes.DOSSIER_ASSIGNED,
            subject=dossier.code,
            time=record["assigned_at"],
        )
        sent = await self.ctx.exchange.send_event(
            self.deliveries,
            EventTypes.DOSSIER_ASSIGNED,
            record,
            key=dossier.code,
            source=ASSIGNMENT_SOURCE,
            writer=DELIVERER,
            note=note,
            envelope=envelope,
        )
        dossier.assignments.append(sent)
        dossier.deadlines.append(record["deadline"])
        if twice:  # the same record again, byte for byte: a redelivery
            again = await self.ctx.exchange.send(
                self.deliveries,
                key=sent.key,
                value=sent.value,
                headers=sent.raw_headers,
                note=f"{note} (delivered again: the same ce_id)",
            )
            dossier.assignments.append(again)
        return sent

    # -- what the vendor wrote -------------------------------------------------------------------------
    def outputs(self) -> list[Observed]:
        return self.ctx.exchange.received(self.case_events)

    def code_of(self, record: Observed) -> str | None:
        """The dossier a record of the vendor's is about: its body's code, else its key or subject."""
        code = record.field("dossier_code")
        return str(code) if code else (record.key or record.headers.get("ce_subject"))

    def about(self, dossier: Dossier, *, after: Observed | None = None) -> list[Observed]:
        """The vendor's records about a dossier, distinct by ce_id, after a record the kit sent."""
        seen: dict[str | None, Observed] = {}
        for r in self.outputs():
            if self.code_of(r) == dossier.code and (after is None or r.sequence > after.sequence):
                seen.setdefault(r.ce_id or f"#{r.sequence}", r)
        return sorted(seen.values(), key=lambda o: o.sequence)

    async def answer(
        self, dossier: Dossier, *, after: Observed, types: Iterable[str] = TIME_FIELD
    ) -> Observed | None:
        """The first answer of the wanted types to a dossier after `after`, awaited until its deadline passed
        (plus the grace), within the time-out."""
        wanted = set(types)

        def found() -> Observed | None:
            return next((r for r in self.about(dossier, after=after) if r.contract in wanted), None)

        return await self.ctx.exchange.wait_for(found, self.ctx.wait_for_deadline(dossier.deadlines[-1]))

    async def sentinel(self, behind: Dossier, purpose: str) -> None:
        """A dossier sent after another on its partition, answered: whatever the system would have done about
        the one before, it has had its turn."""
        partition = behind.assignments[-1].partition
        sentinel = self.new_dossier(purpose, partition=partition)
        self.sentinels[behind.code] = sentinel
        sent = await self.assign(sentinel, f"sentinel after {behind.code} ({purpose})")
        await self.answer(sentinel, after=sent)

    # -- scenarios -------------------------------------------------------------------------------------
    async def play(self) -> None:
        await asyncio.gather(self.happy_path(), self.another_agency(), self.redelivery(), self.interleaving())
        await self.poison()

    async def happy_path(self) -> None:
        dossier = self.happy = self.new_dossier("happy path")
        sent = await self.assign(dossier, "assigned to your agency")
        answer = await self.answer(dossier, after=sent)
        if answer is not None and answer.contract == SUPPLEMENT:
            # the citizen supplies it; the one-stop system assigns it again, with a new deadline
            sent = await self.assign(dossier, "assigned again after the supplement")
            answer = await self.answer(dossier, after=sent, types=[DECISION])
        if answer is None or answer.contract != DECISION:
            return
        self.delivered_after_decision = await self.assign(
            dossier, "delivered again after its decision (a new ce_id)"
        )
        await self.sentinel(dossier, "no second decision")

    async def another_agency(self) -> None:
        dossier = self.other = self.new_dossier("another agency's dossier")
        dossier.agency = dict(self.other_ref)
        await self.assign(dossier, f"assigned to another agency, {self.other_ref['code']}")
        await self.sentinel(dossier, "no answer to another agency's dossier")

    async def redelivery(self) -> None:
        dossier = self.redelivered = self.new_dossier("redelivery")
        sent = await self.assign(dossier, "assigned to your agency", twice=True)
        await self.answer(dossier, after=sent)
        await self.sentinel(dossier, "one answer to a redelivered assignment")

    async def interleaving(self) -> None:
        procedures = self.procedures[:2] if len(self.procedures) > 1 else self.procedures * 2
        first = self.new_dossier("interleaved, first", procedure=procedures[0])
        second = self.new_dossier("interleaved, second", procedure=procedures[1])
        self.interleaved = [first, second]
        sent_first = await self.assign(first, "interleaved with the next dossier")
        sent_second = await self.assign(second, "interleaved with the dossier before")
        await asyncio.gather(self.answer(first, after=sent_first), self.answer(second, after=sent_second))

    async def poison(self) -> None:
        """Bad records on the partition of a dossier that must still be answered."""
        target = self.after_poison = self.new_dossier("after poison")
        partition = self.ctx.exchange.partition_of(self.deliveries, target.code)
        now = self.ctx.clock.now()

        def headers(subject: str) -> list[tuple[str, bytes]]:
            envelope = Envelope.new(
                source=ASSIGNMENT_SOURCE, type=EventTypes.DOSSIER_ASSIGNED, subject=subject, time=now
            )
            return [*envelope.to_headers(), ("egov_writer", DELIVERER.encode())]

        registry = self.ctx.exchange.registry
        body = registry.encode(EventTypes.DOSSIER_ASSIGNED, self.assignment(target))
        unknown = b"\xc3\x01" + os.urandom(8) + body[10:]
        bad_code = self.off_contract_code(partition)
        off_record = {**self.assignment(target), "dossier_code": bad_code}
        self.off_contract_codes = [bad_code]
        headerless = self.new_dossier("no CloudEvents headers", partition=partition)
        self.off_contract_codes.append(headerless.code)
        send = self.ctx.exchange.send
        self.poisoned = [
            await send(
                self.deliveries,
                key=target.code,
                value=b"not avro at all",
                headers=headers(target.code),
                note="poison: bad bytes",
            ),
            await send(
                self.deliveries,
                key=target.code,
                value=unknown,
                headers=headers(target.code),
                note="poison: an unknown fingerprint",
            ),
            await send(
                self.deliveries,
                key=bad_code,
                value=registry.encode(EventTypes.DOSSIER_ASSIGNED, off_record),
                headers=headers(bad_code),
                note=f"poison: off contract (dossier code {bad_code!r} of no Thông tư 03/2025 form)",
            ),
            await send(
                self.deliveries,
                key=headerless.code,
                value=registry.encode(EventTypes.DOSSIER_ASSIGNED, self.assignment(headerless)),
                headers=[],
                note="poison: a valid body without CloudEvents headers",
            ),
        ]
        sent = await self.assign(target, "assigned after the poison, on its partition")
        await self.answer(target, after=sent)

    def off_contract_code(self, partition: int) -> str:
        """A dossier code of no Thông tư 03/2025 form, landing on `partition`."""
        for attempt in range(1, 10_000):
            code = f"HS-{self.ctx.run_number}-{attempt}-KHONG-HOP-LE"
            if self.ctx.exchange.partition_of(self.deliveries, code) == partition:
                return code
        raise RuntimeError(f"no off-contract code lands on partition {partition}")

    # -- verdicts --------------------------------------------------------------------------------------
    def verdicts(self) -> list[Verdict]:
        ours = [
            r
            for r in self.outputs()
            if self.code_of(r) in self.dossiers or self.code_of(r) in self.off_contract_codes
        ]
        envelopes = Envelopes(
            self.role, self.ctx.exchange.registry, get_validator(), lambda r: self.code_of(r), "agency"
        )
        return [
            self.answers_an_assigned_dossier(),
            envelopes.key(ours),
            envelopes.headers(ours),
            envelopes.source(ours),
            envelopes.released(ours),
            envelopes.rules(ours),
            self.responsible_agency(ours),
            self.within_the_deadline(ours),
            self.business_time(ours),
            self.ignores_other_agencies(),
            self.decides_once(ours),
            self.supplement_only_in_progress(ours),
            self.redelivery_changes_nothing(),
            self.interleaved_dossiers(),
            *self.poison_verdicts(),
        ]

    def transcript(self, *dossiers: Dossier | None) -> list[Observed]:
        records: list[Observed] = []
        for d in dossiers:
            if d is not None:
                records += d.assignments + self.about(d)
        return records

    def answers_an_assigned_dossier(self) -> Verdict:
        d = self.happy
        assert d is not None
        answers = self.about(d)
        decisions = [a for a in answers if a.contract == DECISION]
        supplements = [a for a in answers if a.contract == SUPPLEMENT]
        problems = []
        if not decisions:
            asked = f" after {len(supplements)} supplement request(s)" if supplements else ""
            problems.append(f"{d.code}: no AgencyDecisionMade{asked} within the wait")
        outcome = decisions[0].field("decision") if decisions else None
        return verdict(
            self.role,
            "agency.answers-an-assigned-dossier",
            problems,
            passed_reason=f"{d.code} was decided ({outcome})"
            + (" after a supplement request" if supplements else ""),
            failed_reason="a dossier assigned to your agency got no decision: the citizen never gets "
            "a result",
            records=self.transcript(d),
        )

    def assigned_before(self, dossier: Dossier, record: Observed) -> Observed | None:
        """The last assignment of the dossier the kit sent before the vendor's record."""
        return next((a for a in reversed(dossier.assignments) if a.sequence < record.sequence), None)

    def responsible_agency(self, ours: list[Observed]) -> Verdict:
        problems, at_fault = [], []
        for r in ours:
            dossier = self.dossiers.get(self.code_of(r) or "")
            if dossier is None or r.record is None:
                continue
            named = {
                DECISION: [
                    ("agency", r.field("agency")),
                    ("decided_by.agency", (r.field("decided_by") or {}).get("agency")),
                ],
                SUPPLEMENT: [("requested_by", r.field("requested_by"))],
            }.get(r.contract or "", [])
            for path, ref in named:
                code = (ref or {}).get("code")
                if code != dossier.agency["code"]:
                    problems.append(
                        f"{where(r)}: {path} is {code!r}, the dossier was assigned to "
                        f"{dossier.agency['code']}"
                    )
                    at_fault.append(r)
        return verdict(
            self.role,
            "agency.responsible-agency",
            problems,
            passed_reason="every answer names the agency the dossier was assigned to "
            f"({self.agency_ref['code']})",
            failed_reason="answers name another agency than the one assigned: the one-stop system "
            "refuses them",
            records=at_fault or ours,
        )

    def within_the_deadline(self, ours: list[Observed]) -> Verdict:
        problems, at_fault, judged = [], [], 0
        for r in ours:
            dossier = self.dossiers.get(self.code_of(r) or "")
            field_name = TIME_FIELD.get(r.contract or "")
            if dossier is None or field_name is None or not isinstance(r.field(field_name), dt.datetime):
                continue
            assigned = self.assigned_before(dossier, r)
            if assigned is None or assigned.record is None:
                continue
            judged += 1
            deadline = assigned.record["deadline"]
            day = r.field(field_name).astimezone(self.ctx.zone).date()
            if day > deadline:
                problems.append(
                    f"{where(r)}: {field_name} is {day:%d/%m/%Y}, after the deadline {deadline:%d/%m/%Y} "
                    f"(late by {(day - deadline).days} day(s))"
                )
                at_fault += [assigned, r]
        return verdict(
            self.role,
            "agency.within-the-deadline",
            problems,
            passed_reason=f"all {judged} answers are dated on or before their deadline",
            failed_reason="answers came after the dossier's deadline: the dossier is late (QĐ 766 counts it)",
            records=at_fault or ours,
        )

    def business_time(self, ours: list[Observed]) -> Verdict:
        problems, at_fault = [], []
        slack = self.ctx.tolerance
        for r in ours:
            dossier = self.dossiers.get(self.code_of(r) or "")
            if dossier is None or not dossier.assignments:
                continue
            first = dossier.assignments[0].at - slack
            last = r.at + slack
            times = [("ce_time", ce_time(r))]
            field_name = TIME_FIELD.get(r.contract or "")
            if field_name and isinstance(r.field(field_name), dt.datetime):
                times.append((field_name, r.field(field_name)))
            for name, value in times:
                if value is not None and not first <= value <= last:
                    problems.append(
                        f"{where(r)}: {name} {value.isoformat()} is outside the business time of the "
                        "exchange "
                        f"({dossier.assignments[0].at.isoformat()} to {r.at.isoformat()})"
                    )
                    at_fault.append(r)
        speed = self.ctx.clock.speed
        return verdict(
            self.role,
            "agency.business-time",
            problems,
            passed_reason="every answer is dated in the business time of the exchange (clock speed "
            f"{speed:g})",
            failed_reason="answers are dated outside the business time of the exchange: the system's "
            "clock is "
            "not the stack's (set EGOV_CLOCK_SPEED and EGOV_CLOCK_ANCHOR as the kit has them)",
            records=at_fault or ours,
        )

    def ignores_other_agencies(self) -> Verdict:
        d = self.other
        assert d is not None
        answers = self.about(d)
        sentinel = self.sentinels.get(d.code)
        problems = [
            f"{where(r)}: a {r.contract or 'record'} for {d.code}, assigned to {d.agency['code']}"
            for r in answers
        ]
        if not problems and (sentinel is None or not self.about(sentinel)):
            problems.append(
                f"the dossier sent after {d.code} on its partition "
                f"({sentinel.code if sentinel else '—'}) got no "
                "answer, so the absence of an answer proves nothing"
            )
        return verdict(
            self.role,
            "agency.ignores-other-agencies",
            problems,
            passed_reason=f"{d.code}, assigned to {d.agency['code']}, got no answer from yours",
            failed_reason="your system answered a dossier assigned to another agency",
            records=self.transcript(d, sentinel),
        )

    def decides_once(self, ours: list[Observed]) -> Verdict:
        problems, at_fault = [], []
        for code, dossier in self.dossiers.items():
            decisions = [r for r in self.about(dossier) if r.contract == DECISION]
            if len(decisions) > 1:
                problems.append(
                    f"{code}: {len(decisions)} decisions ("
                    + ", ".join(f"{r.field('decision')} ce_id {r.ce_id}" for r in decisions)
                    + ")"
                )
                at_fault += self.transcript(dossier)
        happy = self.happy
        if not problems and self.delivered_after_decision is None:
            problems.append(
                "the happy path's dossier was never decided, so a second delivery could not be tried"
            )
        return verdict(
            self.role,
            "agency.decides-once",
            problems,
            passed_reason="no dossier was decided twice, the decided one delivered again included",
            failed_reason="a dossier was decided more than once: the one-stop system accepts one decision",
            records=at_fault or self.transcript(happy, self.sentinels.get(happy.code) if happy else None),
        )

    def supplement_only_in_progress(self, ours: list[Observed]) -> Verdict:
        problems, at_fault = [], []
        for r in ours:
            if r.contract != SUPPLEMENT:
                continue
            dossier = self.dossiers.get(self.code_of(r) or "")
            if dossier is None:
                problems.append(f"{where(r)}: a supplement request for a dossier the kit never assigned")
                at_fault.append(r)
                continue
            before = [x for x in self.about(dossier) if x.sequence < r.sequence]
            if dossier.agency["code"] != self.agency_ref["code"] or self.assigned_before(dossier, r) is None:
                problems.append(f"{where(r)}: {dossier.code} was never assigned to your agency")
            elif any(x.contract == DECISION for x in before):
                problems.append(f"{where(r)}: {dossier.code} was already decided")
            elif any(x.contract == SUPPLEMENT for x in before):
                problems.append(f"{where(r)}: a second supplement request for {dossier.code}")
            else:
                continue
            at_fault += self.transcript(dossier)
        asked = sum(1 for r in ours if r.contract == SUPPLEMENT)
        return verdict(
            self.role,
            "agency.supplement-only-in-progress",
            problems,
            passed_reason=(
                f"{asked} supplement request(s), each for a dossier in progress, the first for it"
                if asked
                else "no supplement request: none out of place"
            ),
            failed_reason="supplements were asked outside the dossier's processing, or more than once",
            records=at_fault or [r for r in ours if r.contract == SUPPLEMENT],
        )

    def redelivery_changes_nothing(self) -> Verdict:
        d = self.redelivered
        assert d is not None
        answers = self.about(d)
        sentinel = self.sentinels.get(d.code)
        problems = []
        if not answers:
            problems.append(f"{d.code}: no answer at all")
        elif len(answers) > 1:
            problems.append(
                f"{d.code}: {len(answers)} answers with distinct ce_ids to one assignment delivered twice: "
                + ", ".join(f"{a.contract and a.contract.rsplit('.', 1)[-1]} {a.ce_id}" for a in answers)
            )
        elif sentinel is None or not self.about(sentinel):
            problems.append(f"the dossier sent after {d.code} on its partition got no answer")
        return verdict(
            self.role,
            "agency.redelivery-changes-nothing",
            problems,
            passed_reason=f"{d.code}, delivered twice with one ce_id, was answered once",
            failed_reason="an assignment delivered again (the same ce_id) was not handled exactly once",
            records=self.transcript(d, sentinel),
        )

    def interleaved_dossiers(self) -> Verdict:
        problems = []
        for d in self.interleaved:
            answers = self.about(d)
            if not answers:
                problems.append(f"{d.code}: no answer")
            for r in answers:  # its own code in the body (the key is the key check's) and the subject
                if r.headers.get("ce_subject") != d.code:
                    problems.append(
                        f"{where(r)}: the answer about {d.code} has ce_subject "
                        f"{r.headers.get('ce_subject')!r}"
                    )
        # an answer whose key is one dossier's and whose body is the other's
        codes = {d.code for d in self.interleaved}
        for r in self.outputs():
            if r.key in codes and self.code_of(r) in codes and self.code_of(r) != r.key:
                problems.append(f"{where(r)}: keyed {r.key} but about {self.code_of(r)}")
        return verdict(
            self.role,
            "agency.interleaved-dossiers",
            problems,
            passed_reason="both interleaved dossiers were answered, each under its own code",
            failed_reason="interleaved dossiers were not each answered as themselves",
            records=self.transcript(*self.interleaved),
        )

    def poison_verdicts(self) -> list[Verdict]:
        target = self.after_poison
        assert target is not None
        answered = self.about(target)
        letters = [
            r
            for r in self.ctx.exchange.received(self.role.dead_letters)
            if r.key in {p.key for p in self.poisoned}
        ]
        if self.role.dead_letters in self.ctx.exchange.unreadable:
            reported = f"(the kit may not read {self.role.dead_letters})"
        else:
            reported = f"{len(letters)} dead letter(s) on {self.role.dead_letters} for them"
        goes_on = verdict(
            self.role,
            "agency.goes-on-after-poison",
            []
            if answered
            else [
                f"{target.code}, sent after {len(self.poisoned)} bad records on its partition, got no answer"
            ],
            passed_reason=f"{target.code}, sent after {len(self.poisoned)} bad records on its partition, was "
            f"answered; {reported}",
            failed_reason="after bad records the system stopped serving the partition (crashed or stuck); "
            + reported,
            records=[*self.poisoned, *self.transcript(target), *letters],
        )
        acted = [r for r in self.outputs() if self.code_of(r) in self.off_contract_codes]
        not_acted = verdict(
            self.role,
            "agency.poison-not-acted-on",
            [f"{where(r)}: a {r.contract or 'record'} about {self.code_of(r)}" for r in acted],
            passed_reason="neither the off-contract assignment nor the one without CloudEvents "
            "headers was answered",
            failed_reason="your system acted on a record that breaks its contract",
            records=[*self.poisoned, *acted],
        )
        return [goes_on, not_acted]
