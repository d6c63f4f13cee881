"""Where the audit puts each record: the segment rules of services/audit/domain.py, pure."""

from __future__ import annotations

import pytest

from egov.platform.audit import EMPTY, GENESIS, Position, TopicIdentity
from services.audit.domain import Append, OpenSegment, Skip, in_doubt, place

ONE = TopicIdentity("cluster-1", "topic-a")
RECREATED = TopicIdentity("cluster-1", "topic-b")
OTHER_BROKER = TopicIdentity("cluster-2", "topic-c")
#: Segment 0 of `ONE`, offsets logged up to 9.
AT_9 = Position(0, ONE, 9, "h")
#: A log written before segments: offsets up to 9, of a topic instance not recorded.
LEGACY = Position(0, None, 9, "h")


def test_the_next_record_of_the_same_topic_is_appended_and_not_in_doubt() -> None:
    assert place(AT_9, ONE, 10, None) == Append()
    assert not in_doubt(AT_9, 10)


@pytest.mark.parametrize(
    ("position", "offset"),
    [(EMPTY, 0), (LEGACY, 10), (AT_9, 9), (AT_9, 0), (AT_9, 12)],
    ids=["nothing-logged", "identity-unknown", "redelivery", "offsets-start-again", "jump"],
)
def test_a_record_whose_place_is_in_doubt_has_the_identity_asked_again(
    position: Position, offset: int
) -> None:
    assert in_doubt(position, offset)


def test_the_first_record_of_a_partition_opens_segment_0() -> None:
    step = place(Position(-1, None, -1, GENESIS), ONE, 0, None)
    assert isinstance(step, OpenSegment) and not step.continues and "first record" in step.reason


def test_a_redelivery_is_skipped_and_a_jump_is_logged() -> None:
    assert place(AT_9, ONE, 7, True) == Skip()
    assert place(AT_9, ONE, 15, None) == Append()  # logged: verify names the offsets missing before it


def test_a_topic_created_again_or_another_broker_opens_a_new_segment() -> None:
    again = place(AT_9, RECREATED, 0, None)
    assert isinstance(again, OpenSegment) and not again.continues
    assert "created again" in again.reason and "topic-a became topic-b" in again.reason
    moved = place(AT_9, OTHER_BROKER, 0, None)
    assert isinstance(moved, OpenSegment) and "another broker" in moved.reason
    assert "cluster-1 became cluster-2" in moved.reason
    # even when its offsets go on where the old ones stopped: the identity decides, not the offset
    assert isinstance(place(AT_9, RECREATED, 10, None), OpenSegment)


def test_a_logged_offset_with_another_record_opens_a_new_segment() -> None:
    for same in (False, None):  # another record there, or none in this segment
        step = place(AT_9, ONE, 3, same)
        assert isinstance(step, OpenSegment) and "history differs" in step.reason


def test_a_log_written_before_segments_is_continued_only_where_it_follows_on() -> None:
    follows = place(LEGACY, ONE, 10, None)
    assert isinstance(follows, OpenSegment) and follows.continues and not follows.then_skip
    redelivered = place(LEGACY, ONE, 8, True)
    assert isinstance(redelivered, OpenSegment) and redelivered.continues and redelivered.then_skip
    for offset, same in ((8, False), (0, None), (12, None)):
        other = place(LEGACY, ONE, offset, same)
        assert isinstance(other, OpenSegment) and not other.continues, offset
        assert "taken as another instance" in other.reason
