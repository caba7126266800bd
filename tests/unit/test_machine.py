"""The heap is handed back only once the process has grown past what the last trim left."""

from __future__ import annotations

import sys

import pytest

from modelmill.core import machine


def test_a_trim_waits_for_the_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    resident = iter([100, 90, 150, 170, 175, 80, 100])  # before and after each trim, then checks
    trims: list[int] = []
    monkeypatch.setattr(machine, "resident_bytes", lambda: next(resident))
    monkeypatch.setattr(machine, "release_free_memory", lambda: trims.append(1))
    trim = machine.HeapTrimmer(margin=60)
    trim()  # the first chunk: nothing to compare with (100), trimmed to 90
    trim()  # 150: within 90 + 60
    assert len(trims) == 1
    trim()  # 170 > 150: trimmed, to 175 (what it left is the new floor)
    assert len(trims) == 2
    trim()  # 80
    trim()  # 100: within 175 + 60
    assert len(trims) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/statm is Linux's")
def test_the_resident_set_is_read_from_proc() -> None:
    before = machine.resident_bytes()
    block = bytearray(64 << 20)  # touched: resident
    after = machine.resident_bytes()
    assert before is not None and after is not None and after - before > 32 << 20
    del block


def test_a_frozen_heap_is_unfrozen_after_the_block_and_a_callers_freeze_kept() -> None:
    import gc

    gc.unfreeze()  # a served model froze this worker's heap (serve.app's lifespan): start as a fresh process
    with machine.frozen_heap():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    with pytest.raises(KeyboardInterrupt), machine.frozen_heap():
        raise KeyboardInterrupt
    assert gc.get_freeze_count() == 0  # unfrozen on the way out of an interrupted job too
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with machine.frozen_heap():
            pass
        assert gc.get_freeze_count() == frozen  # the caller's freeze is theirs to undo
    finally:
        gc.unfreeze()
