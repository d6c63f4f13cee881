import io
import json
import logging

import pytest
import structlog

from egov.regulations.personal_data import mask_text, mask_value
from egov.runtime.logging import configure_logging, get_logger


def test_id_numbers_and_phone_numbers_are_masked_in_text() -> None:
    text = mask_text("citizen 060185123456 called from 0912 345 678 and +84912345678")
    assert "060185123456" not in text and "060******456" in text
    assert "0912 345 678" not in text and "+84912345678" not in text


@pytest.mark.parametrize(
    "secret",
    ["060 185 123 456", "060.185.123.456", "84912345678", "02523822123", "0252 3822 123", "123456789"],
)
def test_other_ways_of_writing_them_are_masked_too(secret: str) -> None:
    assert secret not in mask_text(f"value {secret} here")
    assert secret not in str(mask_value(secret.encode()))


def test_dossier_codes_and_dates_are_left_alone() -> None:
    text = "dossier 000.00.04.H11-261125-0001 received 2026-11-25"
    assert mask_text(text) == text


def test_log_lines_are_json_with_event_id_and_key_and_no_personal_data() -> None:
    stream = io.StringIO()
    configure_logging("test", "INFO", stream=stream)
    try:
        with structlog.contextvars.bound_contextvars(
            event_id="e-1", dossier_code="000.00.04.H11-261125-0001"
        ):
            get_logger("t").info(
                "dossier.received",
                id_number="060185123456",
                note="ID 060185123456",
                applicant={"phone": "0912345678"},
            )
        logging.getLogger("faust").warning("from a library: 0912345678")
    finally:
        logging.getLogger().handlers.clear()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event_id"] == "e-1"
    assert first["dossier_code"] == "000.00.04.H11-261125-0001"
    assert first["service"] == "test"
    assert "060185123456" not in stream.getvalue()
    assert "0912345678" not in stream.getvalue()
    assert first["id_number"] == "***masked***"
    assert second["event"].startswith("from a library")


def test_uuids_are_left_alone_even_when_their_digits_look_like_a_phone_number() -> None:
    from egov.regulations.personal_data import mask_text

    event_id = "db012345-6782-4845-9dbc-123456789012"
    assert mask_text(f"event {event_id} from 0912345678") == f"event {event_id} from <phone:***8>"
