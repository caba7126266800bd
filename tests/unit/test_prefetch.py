"""prefetched(): order, bounded read-ahead, errors raised in the consumer, early stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from modelmill.batch.prefetch import prefetched


def test_items_arrive_in_order_and_complete() -> None:
    assert list(prefetched(iter(range(50)), depth=2)) == list(range(50))
    assert list(prefetched(iter([]))) == []


def test_the_producer_runs_at_most_depth_items_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(20):
            produced.append(i)
            yield i

    stream = prefetched(source(), depth=1)
    assert next(stream) == 0
    time.sleep(0.3)  # give the producer every chance to run ahead
    # item 0 consumed, item 1 queued, item 2 produced and waiting for room: never more
    assert len(produced) <= 3
    assert list(stream) == list(range(1, 20))


def test_producer_errors_are_raised_in_the_consumer_after_earlier_items() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("bad line 7")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad line 7"):
        for item in prefetched(source()):
            got.append(item)
    assert got == [1]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    stream = prefetched(source())
    assert next(stream) == 0
    stream.close()  # what a `for` loop does when its body raises
    assert closed.wait(5)
    assert not any(t.name == "modelmill-prefetch" and t.is_alive() for t in threading.enumerate())
