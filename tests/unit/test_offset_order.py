"""The hops' offset order (streams/kafka/offset_order.py): which delivered records are applied, skipped or held."""

from streams.kafka.offset_order import OffsetOrder, Verdict

TP = ("account-commands", 1)


def started_at(offset: int | None, **options) -> OffsetOrder:
    order = OffsetOrder(**options)
    order.restart({TP: offset})
    return order


def test_records_from_the_committed_offset_on_are_applied_in_turn():
    order = started_at(2)
    for offset in (2, 3, 4):
        assert order.verdict(TP, offset) is Verdict.APPLY
        order.applied(TP, offset)
    assert order.next_offset(TP) == 5


def test_a_record_after_a_missing_one_is_held_and_the_partition_read_again_from_the_missing_one():
    order = started_at(2)
    assert order.verdict(TP, 3) is Verdict.EARLY
    assert order.reread(TP, now=10.0) == 2
    # the records queued behind it do not ask again at once
    assert order.verdict(TP, 4) is Verdict.EARLY
    assert order.reread(TP, now=10.5) is None
    # the re-read delivers the missing record, then the held one
    assert order.verdict(TP, 2) is Verdict.APPLY
    order.applied(TP, 2)
    assert order.verdict(TP, 3) is Verdict.APPLY


def test_a_re_read_that_does_not_come_is_asked_again_after_a_while():
    order = started_at(2, reread_every=2.0)
    assert order.verdict(TP, 3) is Verdict.EARLY
    assert order.reread(TP, now=10.0) == 2
    assert order.reread(TP, now=11.9) is None
    assert order.reread(TP, now=12.0) == 2


def test_records_below_the_next_offset_were_applied_and_are_not_applied_again():
    order = started_at(2)
    for offset in (2, 3, 4):
        order.applied(TP, offset)
    assert [order.verdict(TP, offset) for offset in (1, 2, 3, 4, 5)] == [Verdict.DUPLICATE] * 4 + [Verdict.APPLY]


def test_a_held_record_is_never_applied_however_often_the_re_read_is_asked():
    order = started_at(2, reread_every=0.0)
    for attempt in range(50):
        assert order.verdict(TP, 5) is Verdict.EARLY
        assert order.reread(TP, now=float(attempt)) == 2
    assert order.rereads(TP) == 50


def test_records_retention_removed_before_they_were_applied_are_passed_from_the_log_start():
    order = started_at(2)
    assert order.verdict(TP, 9) is Verdict.EARLY
    assert not order.log_starts_at(TP, 2)  # the missing record is still there: read again, not passed
    assert order.verdict(TP, 9) is Verdict.EARLY
    assert order.log_starts_at(TP, 7)
    assert order.next_offset(TP) == 7 and order.rereads(TP) == 0
    assert order.verdict(TP, 7) is Verdict.APPLY
    assert not order.log_starts_at(("other", 0), 7)  # a partition not assigned


def test_a_partition_with_no_known_start_applies_what_comes_first():
    order = started_at(None)
    assert order.verdict(TP, 7) is Verdict.APPLY
    assert order.verdict(("other", 0), 3) is Verdict.APPLY
    order.applied(TP, 7)
    assert order.verdict(TP, 9) is Verdict.EARLY


def test_a_seek_to_the_committed_offsets_starts_over_and_forgets_partitions_no_longer_assigned():
    order = started_at(2)
    for offset in (2, 3, 4):
        order.applied(TP, offset)
    other = ("account-commands", 0)
    order.restart({other: 0})
    assert order.next_offset(TP) is None
    assert order.next_offset(other) == 0
    order.restart({TP: 3, other: -1})  # -1: nothing committed, log start unknown
    assert order.verdict(TP, 3) is Verdict.APPLY  # applied before, but the group says it is next: applied again
    assert order.next_offset(other) is None
