"""Received byte intervals: exact coverage, resends recognised, overlaps refused, a
compact stored form; checked against a plain per-byte model."""

from __future__ import annotations

import itertools
import random
import threading

import numpy as np
import pytest

from tiler.errors import RangeOutsideFileError, RangeOverlapError
from tiler.received import ReceivedRanges


def test_add_covers_missing() -> None:
    received = ReceivedRanges(100)
    assert received.add(10, 20) and received.add(30, 40)
    assert received.covers(10, 20) and received.covers(12, 18) and received.covers(5, 5)
    assert not received.covers(10, 21) and not received.covers(0, 10)
    assert received.missing() == [(0, 10), (20, 30), (40, 100)]
    assert received.missing(15, 35) == [(20, 30)]
    assert received.received_bytes == 20 and not received.complete
    assert received.add(20, 30)  # joins both neighbours into one interval
    assert received.to_pairs() == [[10, 40]]
    assert received.covers(10, 40)


def test_resend_is_recognised_and_changes_nothing() -> None:
    received = ReceivedRanges(100)
    assert received.add(10, 20)
    assert received.add(10, 20) is False
    assert received.add(12, 15) is False  # inside received bytes: a resend too
    assert received.received_bytes == 10


@pytest.mark.parametrize("start, end", [(5, 15), (15, 25), (5, 25), (0, 100)])
def test_partial_overlap_is_refused(start: int, end: int) -> None:
    received = ReceivedRanges(100)
    received.add(10, 20)
    with pytest.raises(RangeOverlapError) as caught:
        received.add(start, end)
    assert (caught.value.start, caught.value.end) == (start, end)
    assert received.to_pairs() == [[10, 20]] and received.received_bytes == 10


@pytest.mark.parametrize("start, end", [(-1, 5), (90, 101), (5, 5), (7, 3), (100, 101)])
def test_range_outside_the_file_is_refused(start: int, end: int) -> None:
    with pytest.raises(RangeOutsideFileError):
        ReceivedRanges(100).add(start, end)


def test_round_trip_and_bad_stored_forms() -> None:
    received = ReceivedRanges(1000)
    for start in range(0, 1000, 20):
        received.add(start, start + 7)
    again = ReceivedRanges.from_pairs(1000, received.to_pairs())
    assert again.to_pairs() == received.to_pairs()
    assert again.received_bytes == received.received_bytes
    for bad in ([[5, 3]], [[0, 10], [5, 20]], [[0, 2000]], [[1, 2, 3]], [["a", "b"]]):
        with pytest.raises((RangeOutsideFileError, RangeOverlapError)):
            ReceivedRanges.from_pairs(1000, bad)


def test_against_a_byte_model() -> None:
    rng = random.Random(7)
    size = 5000
    model = np.zeros(size, bool)
    received = ReceivedRanges(size)
    for _ in range(3000):
        start = rng.randrange(size)
        end = min(size, start + rng.randrange(1, 60))
        inside = model[start:end]
        if inside.all():
            assert received.add(start, end) is False
        elif inside.any():
            with pytest.raises(RangeOverlapError):
                received.add(start, end)
        else:
            assert received.add(start, end) is True
            model[start:end] = True
        a, b = sorted(rng.randrange(size + 1) for _ in range(2))
        assert received.covers(a, b) == bool(model[a:b].all())
    assert received.received_bytes == int(model.sum())
    gaps = received.missing()
    assert sum(e - s for s, e in gaps) == size - int(model.sum())
    assert all(not model[s:e].any() for s, e in gaps)
    starts = np.array([rng.randrange(size) for _ in range(500)], np.int64)
    ends = np.minimum(starts + np.array([rng.randrange(0, 40) for _ in range(500)]), size)
    expected = [bool(model[s:e].all()) for s, e in zip(starts, ends, strict=True)]
    assert received.covers_many(starts, ends).tolist() == expected
    pairs = received.to_pairs()
    assert all(a[1] < b[0] for a, b in itertools.pairwise(pairs))  # merged


def test_tens_of_thousands_of_ranges_in_any_order() -> None:
    count = 50_000
    order = list(range(count))
    random.Random(1).shuffle(order)
    received = ReceivedRanges(count * 10)
    for i in order[: count // 2]:
        received.add(i * 10, i * 10 + 10)
    assert len(received.to_pairs()) <= count // 2
    for i in order[count // 2 :]:
        received.add(i * 10, i * 10 + 10)
    assert received.complete and received.to_pairs() == [[0, count * 10]]


def test_concurrent_adds_and_reads() -> None:
    received = ReceivedRanges(400_000)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for start in range(offset, 400_000, 400):
                received.add(start, start + 200)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def reader() -> None:
        for start in range(0, 400_000, 997):
            received.covers(start, start + 10)
            received.missing(start, start + 1000)

    threads = [threading.Thread(target=writer, args=(o,)) for o in (0, 200)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and received.complete
