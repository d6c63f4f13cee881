"""Official documents on the real broker: signed by the signing platform, exchanged between agencies through
the LGSP, refused with a precise reason when the signature does not hold, recalled; and the signature
checked by the standard tool (`openssl cms -verify`)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from egov.contracts.envelope import APP_ID_PREFIX, Envelope
from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes, Topics, dead_letters
from egov.platform import pki
from egov.runtime.clock import Clock
from egov.tools.identity.realms import official
from services.signing.ca import CertificateAuthority
from tests.integration.conftest import (
    Stack,
    approve_when_recorded,
    fast_clock_env,
    new_settings,
    run_stack,
    wait_until,
)
from tests.integration.kafka_helpers import collect, produce, read_all, wait_committed_past

pytestmark = pytest.mark.integration

A = {"code": "000.00.04.H11", "name": "Sở Kế hoạch và Đầu tư"}
B = {"code": "000.00.16.H11", "name": "Sở Xây dựng"}
C = {"code": "000.00.17.H11", "name": "Sở Tài nguyên và Môi trường"}
#: A's leader, who signs and approves (a fictional official of the local single sign-on).
SIGNER = {k: v for k, v in official(A["code"], "leader").as_official().items() if k != "agency"}
#: B completes an incoming document the day it arrives; C takes thirty working days (a recall finds it busy).
PROFILE = {"default_days": 1, "agencies": {B["code"]: 0, C["code"]: 30}}
THROUGH_06 = ["ARRIVED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS", "COMPLETED"]


class Exchange:
    def __init__(self, stack: Stack, clock: Clock) -> None:
        self.stack = stack
        self.clock = clock
        self.client = stack.documents(A["code"])  # A's clerk, and its leader to approve and recall
        self.ca = CertificateAuthority(stack.settings.state_dir / "ca")

    @property
    def bootstrap(self) -> str:
        return self.stack.settings.kafka_bootstrap_servers

    def send(self, summary: str, recipients: list[dict[str, str]], content: bytes) -> str:
        body = {
            "issuing_agency": A["code"],
            "recipients": [r["code"] for r in recipients],
            "document_type": "Công văn",
            "symbol": "SKHĐT-KT",
            "summary": summary,
            "signer": SIGNER,
            "file_name": "cong-van.txt",
            "media_type": "text/plain; charset=utf-8",
            "content_base64": base64.b64encode(content).decode(),
        }
        answer = self.client.post("/api/v1/documents", json=body)
        assert answer.status_code == 202, answer.text
        draft = answer.json()["draft_id"]
        document = str(
            self.poll(lambda: self.client.get(f"/api/v1/drafts/{draft}").json()["document_id"], "registered")
        )
        approved = approve_when_recorded(self.client, document, logs=self.stack.logs)  # the signer, signed in
        assert approved.status_code == 202, approved.text
        return document

    def view(self, document: str) -> dict[str, Any]:
        return dict(self.client.get("/api/v1/documents/by-id", params={"id": document}).json())

    def statuses(self, document: str) -> dict[str, list[str]]:
        outgoing = self.view(document).get("outgoing") or {}
        return {
            code: [s["status"] for s in history] for code, history in outgoing.get("statuses", {}).items()
        }

    def poll(self, check: Any, what: str, timeout: float = 60.0) -> Any:
        return wait_until(check, f"not {what}", timeout, logs=self.stack.logs)

    def inject(self, record: dict[str, Any]) -> None:
        """Issue a document as a sender's system would, bypassing the signing platform."""
        value = get_registry().encode(EventTypes.DOCUMENT_ISSUED, record)
        headers = Envelope.new(
            source="/egov/documents",
            type=EventTypes.DOCUMENT_ISSUED,
            subject=record["document_id"],
            time=self.clock.now(),
        ).to_headers()
        produce(
            self.bootstrap,
            self.stack.topic(Topics.OUTGOING_DOCUMENTS),
            record["document_id"].encode(),
            value,
            headers,
        )

    def packets(self, document: str, count: int) -> list[dict[str, Any]]:
        records = collect(
            self.bootstrap,
            self.stack.topic(Topics.LGSP_DOCUMENTS),
            until=lambda rs: (
                len(
                    [
                        r
                        for r in rs
                        if r.key == document.encode()
                        and r.headers["ce_type"] == EventTypes.DOCUMENT_STATUS_PACKET
                    ]
                )
                >= count
            ),
        )
        return [
            r.decoded()
            for r in records
            if r.key == document.encode() and r.headers["ce_type"] == EventTypes.DOCUMENT_STATUS_PACKET
        ]


@pytest.fixture(scope="module")
def exchange(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    folder = tmp_path_factory.mktemp("documents")
    settings = new_settings(kafka_bootstrap, folder / "state")
    profile = folder / "documents-profile.yaml"
    profile.write_text(yaml.safe_dump(PROFILE), encoding="utf-8")
    env = {**fast_clock_env(1.0), "EGOV_DOCUMENTS_PROFILE": str(profile)}
    clock = Clock(
        speed=float(env["EGOV_CLOCK_SPEED"]), anchor=dt.datetime.fromisoformat(env["EGOV_CLOCK_ANCHOR"])
    )
    with run_stack(settings, ("lgsp", "documents", "signing"), env=env) as stack:
        yield Exchange(stack, clock)


def test_a_signed_document_reaches_two_agencies_and_the_sender_sees_every_status(
    exchange: Exchange, tmp_path: Path
) -> None:
    content = "Công văn về việc phối hợp cấp giấy phép xây dựng.".encode()
    document = exchange.send("Về việc phối hợp", [B, C], content)
    assert document.startswith(f"{A['code']},") and document.endswith("/SKHĐT-KT")
    statuses = exchange.poll(
        lambda: (s := exchange.statuses(document)) and all(h[-1:] == ["COMPLETED"] for h in s.values()) and s,
        "completed by both",
    )
    assert statuses == {B["code"]: THROUGH_06, C["code"]: THROUGH_06}

    # The issued document carries its file, a detached CMS signature and the signer's chain, no key.
    [issued] = [
        r.decoded()
        for r in read_all(exchange.bootstrap, exchange.stack.topic(Topics.OUTGOING_DOCUMENTS))
        if r.key == document.encode() and r.headers["ce_type"] == EventTypes.DOCUMENT_ISSUED
    ]
    assert issued["content_data"] == content and "PRIVATE KEY" not in str(issued)
    signer = x509.load_pem_x509_certificate(issued["certificate_chain"][0].encode())
    assert SIGNER["full_name"] in signer.subject.rfc4514_string()
    roots, crls = trust_store(exchange)
    verified = pki.verify(issued["signature"], content, trusted_roots=roots, crls=crls)
    # … and the standard tool agrees, at the signing time (business time runs fast here).
    command = pki.openssl_files(tmp_path, content=content, signature=issued["signature"], root=roots[0])
    at = ["-attime", str(int(verified.signing_time.timestamp()))]
    assert subprocess.run([*command, *at], capture_output=True).returncode == 0
    tampered = pki.openssl_files(
        tmp_path, content=content + b"!", signature=issued["signature"], root=roots[0]
    )
    assert subprocess.run([*tampered, *at], capture_output=True).returncode != 0


def trust_store(exchange: Exchange) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    return pki.trust_store(exchange.stack.settings.state_dir / "ca" / "public")


def issued_record(
    document: str, content: bytes, signature: bytes, chain: list[str], now: dt.datetime
) -> dict[str, Any]:
    return {
        "document_id": document,
        "issuing_agency": A,
        "recipients": [B],
        "number": int(document.rsplit(",", 1)[1].split("/")[0]),
        "symbol": "SKHĐT-KT",
        "document_type": "Công văn",
        "summary": "Văn bản thử nghiệm",
        "promulgation_date": now.date(),
        "content": {
            "file_name": "cv.txt",
            "media_type": "text/plain",
            "size_bytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        },
        "content_data": content,
        "signature": signature,
        "certificate_chain": chain,
        "issued_at": now,
    }


def test_documents_whose_signature_does_not_hold_are_refused_with_status_02_and_the_reason(
    exchange: Exchange,
) -> None:
    now = exchange.clock.now()
    exchange.ca.ensure(now)
    official = {**SIGNER, "agency": A}
    good = exchange.ca.official(official, now)
    chain = [pki.pem(good.certificate), *(pki.pem(c) for c in exchange.ca.chain())]
    original, changed = b"Noi dung goc", b"Noi dung da sua"

    # Signed, then changed: the file's hash is right for the file, but not what was signed.
    changed_sig = pki.sign_digest(
        hashlib.sha256(original).digest(), good, exchange.ca.chain(), signing_time=now
    )
    # Signed with a certificate that had expired.
    expired_cert = pki.issue_certificate(
        exchange.ca.issuing_identity(),
        pki.official_name("000.00.04.H11/het-han", "Phạm Văn Cũ", "Giám đốc", A["code"], A["name"]),
        (expired_key := pki.new_key()).public_key(),
        not_before=now - dt.timedelta(days=800),
        not_after=now - dt.timedelta(days=70),
        ca=False,
    )
    expired = pki.Identity(expired_key, expired_cert)
    expired_sig = pki.sign_digest(
        hashlib.sha256(original).digest(), expired, exchange.ca.chain(), signing_time=now
    )
    # Signed with a certificate from a CA the province does not trust.
    rogue_root_key = pki.new_key()
    rogue_root = pki.Identity(
        rogue_root_key,
        pki.root_certificate(
            "Rogue Root",
            rogue_root_key,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=3650),
        ),
    )
    rogue_key = pki.new_key()
    rogue = pki.Identity(
        rogue_key,
        pki.issue_certificate(
            rogue_root,
            pki.official_name("x/rogue", "Kẻ Giả Mạo", "Giám đốc", A["code"], A["name"]),
            rogue_key.public_key(),
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=365),
            ca=False,
        ),
    )
    rogue_sig = pki.sign_digest(hashlib.sha256(original).digest(), rogue, [], signing_time=now)

    # Signed by a real official of the province, but of another agency than the one issuing it.
    outsider = exchange.ca.official({**SIGNER, "official_id": "b/giam-doc", "agency": B}, now)
    outsider_sig = pki.sign_digest(
        hashlib.sha256(original).digest(), outsider, exchange.ca.chain(), signing_time=now
    )
    outsider_chain = [pki.pem(outsider.certificate), *(pki.pem(c) for c in exchange.ca.chain())]

    day = f"{now:%Y/%m/%d}"
    cases = {
        "changed": (
            issued_record(f"{A['code']},{day},9001/SKHĐT-KT", changed, changed_sig, chain, now),
            ("thay đổi sau khi ký", "content changed after signing"),
        ),
        "expired": (
            issued_record(
                f"{A['code']},{day},9002/SKHĐT-KT", original, expired_sig, [pki.pem(expired_cert)], now
            ),
            ("không còn hiệu lực", "not valid at signing time"),
        ),
        "untrusted": (
            issued_record(
                f"{A['code']},{day},9003/SKHĐT-KT", original, rogue_sig, [pki.pem(rogue.certificate)], now
            ),
            ("tin cậy", "not issued by a trusted root"),
        ),
        "unsigned": (
            issued_record(f"{A['code']},{day},9004/SKHĐT-KT", original, b"", [], now),
            ("không có chữ ký số", ""),
        ),
        "another agency's official": (
            issued_record(f"{A['code']},{day},9005/SKHĐT-KT", original, outsider_sig, outsider_chain, now),
            ("không thuộc cơ quan ban hành", f"not of the issuing agency {A['code']}"),
        ),
    }
    for record, _ in cases.values():
        exchange.inject(record)
    for name, (record, words) in cases.items():
        packets = exchange.packets(record["document_id"], 2)
        assert [p["status"] for p in packets] == ["ARRIVED", "REFUSED"], name
        assert all(w in packets[1]["description"] for w in words), (name, packets[1]["description"])
        assert packets[1]["sender"]["code"] == B["code"]


def test_a_recall_is_accepted_by_one_recipient_and_refused_by_the_other(exchange: Exchange) -> None:
    document = exchange.send("Về việc đề nghị bổ sung", [B, C], "Công văn số hai.".encode())
    exchange.poll(
        lambda: (
            (s := exchange.statuses(document)).get(B["code"], [])[-1:] == ["COMPLETED"]
            and s.get(C["code"], [])[-1:] == ["IN_PROGRESS"]
        ),
        "completed by B and in progress at C",
    )
    answer = exchange.client.post(
        "/api/v1/documents/recall", params={"id": document}, json={"reason": "Sai sót số liệu"}
    )
    assert answer.status_code == 202, answer.text
    statuses = exchange.poll(
        lambda: (
            (s := exchange.statuses(document))
            and all(h[-1] in ("RECALL_ACCEPTED", "RECALL_REFUSED") for h in s.values())
            and s
        ),
        "answered by both",
    )
    assert statuses[B["code"]][-1] == "RECALL_REFUSED"  # already completed: it cannot be taken back
    assert statuses[C["code"]][-1] == "RECALL_ACCEPTED"
    # A document never issued cannot be recalled.
    refused = exchange.client.post("/api/v1/documents/recall", params={"id": "nope"}, json={"reason": "x"})
    assert refused.status_code == 409


def test_the_lgsp_refuses_a_document_for_an_unknown_agency_with_106(exchange: Exchange) -> None:
    now = exchange.clock.now()
    record = issued_record(f"{A['code']},{now:%Y/%m/%d},9100/SKHĐT-KT", b"x", b"", [], now)
    record["recipients"] = [B, {"code": "000.00.99.H11", "name": "Không có"}]
    exchange.inject(record)
    letters = collect(
        exchange.bootstrap,
        exchange.stack.topic(dead_letters("lgsp")),
        until=lambda rs: any(r.key == record["document_id"].encode() for r in rs),
    )
    [letter] = [r.decoded() for r in letters if r.key == record["document_id"].encode()]
    assert letter["error_code"] == 106 and "000.00.99.H11" in letter["reason"]


@pytest.mark.parametrize(
    ("service", "spec"), [("documents", Topics.SIGNATURES), ("signing", Topics.OUTGOING_DOCUMENTS)]
)
def test_bad_input_goes_to_the_dead_letters_and_the_service_goes_on(
    exchange: Exchange, service: str, spec: Any
) -> None:
    topic = exchange.stack.topic(spec)
    key = f"{A['code']},2020/01/01,{uuid.uuid4().int % 10**6}/X".encode()
    source = f"/egov/{spec.owner}"
    event_type = spec.events[-1]
    headers = Envelope.new(
        source=source, type=event_type, subject=key.decode(), time=exchange.clock.now()
    ).to_headers()
    garbage = produce(exchange.bootstrap, topic, key, b"not avro", headers)
    group = f"{exchange.stack.settings.topic_prefix}{APP_ID_PREFIX}{service}"
    wait_committed_past(exchange.bootstrap, group, topic, *garbage)
    letters = [r.decoded() for r in read_all(exchange.bootstrap, exchange.stack.topic(dead_letters(service)))]
    [letter] = [
        x
        for x in letters
        if (x["origin_topic"], x["origin_partition"], x["origin_offset"]) == (topic, *garbage)
    ]
    assert "single-object" in letter["reason"] or "marker" in letter["reason"]
    assert letter["original_value"] == b"not avro"
    assert exchange.stack.services[service].healthy()  # … and it goes on


def test_egov_trace_shows_a_documents_journey_across_the_layers(exchange: Exchange) -> None:
    from click.testing import CliRunner

    from egov.runtime.settings import get_settings
    from egov.tools.cli import main

    document = exchange.send("Về việc theo dõi", [B], "Công văn số ba.".encode())
    exchange.poll(
        lambda: exchange.statuses(document).get(B["code"], [])[-1:] == ["COMPLETED"], "completed by B"
    )
    env = {
        "EGOV_KAFKA_BOOTSTRAP_SERVERS": exchange.bootstrap,
        "EGOV_TOPIC_PREFIX": exchange.stack.settings.topic_prefix,
    }
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["trace", document], env=env)
        missing = CliRunner().invoke(main, ["trace", "000.00.04.H11,2020/01/01,1/KHONG-CO"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == document
    from services import SERVICES

    order = [next(t for t in line.split() if t in SERVICES) for line in lines[1:]]  # who wrote each step
    assert order[0] == "documents" and {"documents", "signing", "lgsp"} <= set(order)
    assert "DocumentIssued" in result.output and "COMPLETED" in result.output and "Δ" in result.output
    assert missing.exit_code == 1 and "no events found" in missing.output
