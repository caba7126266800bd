"""The C text kernels (``_text_kernel.c``): tokens and ISO dates of Arrow string arrays.

Batch scoring reads text columns as Arrow arrays; their bytes and offsets go to C as they are.
Each kernel does the common case (ASCII texts, ``YYYY-MM-DD`` dates) in one pass and flags
what it left to the exact Python road (``re`` for other texts, pandas for other dates).
Without a C compiler (:mod:`modelmill.core.native`), the callers keep that road for all.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from modelmill.core.native import KernelUnavailable, load_library

SOURCE = Path(__file__).with_name("_text_kernel.c")
TOKEN_BYTES = 256  # the kernel's token buffer: a vocabulary with a longer term keeps Arrow's road

__all__ = ["CompiledVocabulary", "compiled_vocabulary", "iso_days", "string_buffers"]


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    """The kernel with its functions typed, or ``None`` without a compiler."""
    try:
        library = load_library(SOURCE)
    except KernelUnavailable:
        return None
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    library.mm_vocabulary.argtypes = [pointer, pointer, size, pointer, size]
    library.mm_vocabulary.restype = None
    library.mm_token_ids.argtypes = [pointer, pointer, size, ctypes.c_int, *[pointer] * 3, size, size,
                                     *[pointer] * 3]  # fmt: skip
    library.mm_token_ids.restype = size
    library.mm_iso_days.argtypes = [pointer, pointer, size, pointer, pointer]
    library.mm_iso_days.restype = None
    return library


def string_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's offsets (``int32 [N + 1]``, into the data buffer) and data bytes."""
    bounds = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    data = array.buffers()[2]
    empty = data is None or not data.size  # every text empty
    return bounds, np.zeros(1, np.uint8) if empty else np.frombuffer(data, dtype=np.uint8)


def iso_days(array: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Days from 1970-01-01 (``float64``, NaN where missing) of a string ``array``'s ``YYYY-MM-DD``
    dates, and which values are done (those and the missing ones): the rest is the caller's
    (pandas). ``None`` without a compiler."""
    library = _library()
    if library is None:
        return None
    array = array.cast(pa.string())
    bounds, data = string_buffers(array)
    days = np.full(len(array), np.nan)
    ok = np.empty(len(array), dtype=np.uint8)
    library.mm_iso_days(bounds.ctypes.data, data.ctypes.data, len(array), days.ctypes.data, ok.ctypes.data)
    done = ok.view(bool)
    if array.null_count:
        missing = array.is_null().to_numpy(zero_copy_only=False)
        days[missing] = np.nan
        done |= missing
    return days, done


class CompiledVocabulary:
    """A vocabulary laid out for ``_text_kernel.c``: its terms' bytes and an open-addressing table."""

    def __init__(self, library: ctypes.CDLL, terms: tuple[str, ...]) -> None:
        encoded = [t.encode() for t in terms]
        self.library = library
        self.data = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
        self.bounds = np.concatenate([[0], np.cumsum([len(t) for t in encoded])]).astype(np.int64)
        self.longest = max((len(t) for t in encoded), default=0)
        self.slots = 1 << max(4, (2 * len(terms)).bit_length())  # under half full
        self.table = np.empty(self.slots, dtype=np.int32)
        library.mm_vocabulary(self.data.ctypes.data, self.bounds.ctypes.data, len(terms),
                              self.table.ctypes.data, self.slots)  # fmt: skip

    def tokens(self, array: pa.Array, lowercase: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, index) of every known token of the ASCII texts of ``array`` (no nulls), and which
        texts are not ASCII (left to ``re``)."""
        n = len(array)
        bounds, base = string_buffers(array)
        room = int(bounds[-1] - bounds[0]) // 3 + n + 1  # a token is 2 bytes and a separator, at least
        rows, ids = np.empty(room, dtype=np.int64), np.empty(room, dtype=np.int64)
        unicode = np.empty(n, dtype=np.uint8)
        found = self.library.mm_token_ids(
            bounds.ctypes.data, base.ctypes.data, n, int(lowercase), self.data.ctypes.data,
            self.bounds.ctypes.data, self.table.ctypes.data, self.slots, self.longest,
            rows.ctypes.data, ids.ctypes.data, unicode.ctypes.data,
        )  # fmt: skip
        return rows[:found], ids[:found], unicode.view(bool)


@lru_cache(maxsize=8)
def compiled_vocabulary(terms: tuple[str, ...]) -> CompiledVocabulary | None:
    """``terms`` for the C tokenizer, or ``None`` (no compiler here, or a term too long for it)."""
    if any(len(t.encode()) > TOKEN_BYTES for t in terms):
        return None
    library = _library()
    return None if library is None else CompiledVocabulary(library, terms)
