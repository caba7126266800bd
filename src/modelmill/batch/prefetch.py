"""Run a generator one step ahead in a background thread, so two stages of scoring overlap.

Scoring a chunk has a Python half (reading, validation, encoding the model's inputs: holds
the GIL) and a native half (onnxruntime or scikit-learn's tree code: releases it). Done in
turn, one core idles while the other works; with :func:`prefetched` the next chunk is
prepared while the current one is predicted. The queue is bounded (``depth`` items), so
memory stays a few chunks whatever the input size; an exception in the producer is raised
in the consumer, and a consumer that stops early (error, interrupt) stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_S = 0.1  # how often a blocked producer checks whether the consumer went away


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced by a background thread at most ``depth`` items ahead."""
    box: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failed(exc))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="modelmill-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join()
