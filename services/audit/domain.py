"""The audit's rule for each record it reads: log it, skip it as logged before, or open a new segment of the
partition's log first (docs/adr/0015-robustness-at-the-edges.md). Pure.

Offsets alone cannot say whether a record was logged before: a topic deleted and created again, or the same
topic on another broker, numbers its records from 0 again, and a log that skipped every offset it had seen
would silently drop them. So each record is placed by the topic instance it comes from (its identity: the
cluster id and the topic id the broker gives a topic when it is created) and then by its offset:

- another instance than the current segment's: a new segment (another broker, or the topic created again);
- the same instance, an offset after the last one logged: logged (a jump is logged too, and `egov audit
  verify` names the offsets missing before it);
- the same instance, an offset logged before: skipped if it is the same record (a redelivery after a
  restart), else a new segment, since the partition's history differs from what was logged (a reset the
  topic id did not show, or an unclean leader election that reused offsets).

A segment written before segments existed has no identity: the first record after it continues it when its
offset follows on (or it is a redelivery of the last ones), and opens a new segment otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from egov.platform.audit import Position, TopicIdentity


@dataclass(frozen=True)
class Append:
    """Log the record in the current segment."""


@dataclass(frozen=True)
class Skip:
    """The record was logged before (a redelivery): nothing to do."""


@dataclass(frozen=True)
class OpenSegment:
    """Open a new segment (`continues`: of the same instance, whose identity is now known), then log the
    record, or skip it when it was logged before (`then_skip`)."""

    reason: str
    continues: bool = False
    then_skip: bool = False


Step = Append | Skip | OpenSegment


def in_doubt(position: Position, offset: int) -> bool:
    """Whether a record's place needs the topic's identity checked again with the broker: the partition has no
    log yet or one of an unknown instance, or the offset does not follow the last one logged (a restart, a
    reset, a topic created again)."""
    return position.segment < 0 or position.identity is None or offset != position.offset + 1


def place(position: Position, identity: TopicIdentity, offset: int, same_as_logged: bool | None) -> Step:
    """What to do with the record at `offset` of the topic instance `identity`; `same_as_logged` says whether
    the current segment holds that very record at that offset (None: it holds nothing there)."""
    if position.segment < 0:
        return OpenSegment("the partition's first record")
    if position.identity is None:
        if offset == position.offset + 1:
            return OpenSegment("the topic's identity, first recorded; its offsets go on", continues=True)
        if offset <= position.offset and same_as_logged:
            return OpenSegment(
                "the topic's identity, first recorded; its records were logged before", True, then_skip=True
            )
        return OpenSegment(
            f"offset {offset} does not follow on from offset {position.offset} of a topic instance not "
            "recorded: taken as another instance"
        )
    if identity != position.identity:
        if identity.cluster_id != position.identity.cluster_id:
            return OpenSegment(
                f"another broker: cluster {position.identity.cluster_id} became {identity.cluster_id}, "
                f"topic id {position.identity.topic_id} became {identity.topic_id}"
            )
        return OpenSegment(
            f"the topic was created again: topic id {position.identity.topic_id} became {identity.topic_id}"
        )
    if offset > position.offset:
        return Append()
    if same_as_logged:
        return Skip()
    return OpenSegment(
        f"offset {offset} again, after offset {position.offset}, with a record that is not the one logged "
        "there: the partition's history differs (a reset, or offsets reused after an unclean leader "
        "election)"
    )
