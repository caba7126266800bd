"""Text to vocabulary indexes, exactly as scikit-learn's word vectorizers tokenize, fast.

The ONNX graph counts tokens given as vocabulary indexes (``OnnxInput`` kind ``tokens``);
this module finds them. scikit-learn lowercases and applies ``token_pattern`` with
Python's ``re``; doing the same row by row costs about 4 us per listing name, as much as
the whole tree ensemble of a small forest. For the default pattern ``(?u)\\b\\w\\w+\\b``
and pure-ASCII texts (nearly every listing) the same tokens are found by Arrow's
vectorized kernels: lowercase, split on runs of non-word characters, keep pieces of two or
more characters, look them up in the vocabulary. On ASCII, Python's ``\\w`` is exactly
``[0-9A-Za-z_]`` and ``str.lower`` is exactly ``ascii_lower``, so the result is identical;
other texts (accents, CJK, emoji) and other patterns take the Python path. With a C compiler,
the ASCII texts are tokenized in one pass by ``_text_kernel.c`` instead (3.5x faster, same tokens).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelmill.features import text_kernel

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's CountVectorizer/TfidfVectorizer default
ARROW_MIN_ROWS = 256  # below this, Arrow's fixed cost (~0.2 ms) exceeds Python's (~25 us a row)


@lru_cache(maxsize=8)
def compiled_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=8)
def _vocabulary(terms: tuple[str, ...]) -> tuple[pa.Array, dict[str, int]]:
    return pa.array(terms, type=pa.string()), {term: i for i, term in enumerate(terms)}


def token_ids(
    texts: np.ndarray | pa.Array, pattern: str, terms: Sequence[str], lowercase: bool = True
) -> np.ndarray:
    """``int64 [N, L]``: each text's tokens that are in ``terms``, as indexes into ``terms``,
    left-aligned and padded with -1 (``L >= 1``). Token order within a row is not kept (the
    graph only counts them). ``texts``: ``str`` values, or an Arrow string array without nulls
    (batch scoring's text columns: no Python string is made for the ASCII ones)."""
    arrow_terms, index = _vocabulary(tuple(terms))
    if pattern != DEFAULT_TOKEN_PATTERN or len(texts) < ARROW_MIN_ROWS:
        python = _python_texts(texts, np.ones(len(texts), dtype=bool))
        rows, ids = _python_tokens(python, np.arange(len(texts)), pattern, index, lowercase)
        return _pad(len(texts), (rows, ids))
    array = texts.cast(pa.string()) if isinstance(texts, pa.Array) else pa.array(texts, type=pa.string())
    compiled = text_kernel.compiled_vocabulary(tuple(terms))
    if compiled is not None:  # the ASCII texts in C
        rows_a, ids_a, slow = compiled.tokens(array, lowercase)
    else:  # ... or with Arrow's and numpy's kernels
        fast = pc.string_is_ascii(array).to_numpy(zero_copy_only=False)
        ascii_texts = array.filter(pa.array(fast))
        rows_a, ids_a = _ascii_tokens(ascii_texts, np.flatnonzero(fast), arrow_terms, lowercase)
        slow = ~fast
    rest = _python_texts(texts, slow)  # accents, CJK, emoji: Python's re
    rows_p, ids_p = _python_tokens(rest, np.flatnonzero(slow), pattern, index, lowercase)
    return _pad(len(texts), (rows_a, ids_a), (rows_p, ids_p))


def _python_texts(texts: np.ndarray | pa.Array, wanted: np.ndarray) -> Sequence[str]:
    """The ``wanted`` texts as Python strings (the few that ``re`` must tokenize)."""
    if isinstance(texts, pa.Array):
        return texts.filter(pa.array(wanted)).to_pylist()
    return texts[wanted]


_WORD = np.zeros(256, dtype=bool)  # Python's \w on ASCII bytes: [0-9A-Za-z_]
for _lo, _hi in ((48, 58), (65, 91), (97, 123), (95, 96)):
    _WORD[_lo:_hi] = True
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[65:91] += 32


def _ascii_tokens(
    array: pa.Array, positions: np.ndarray, terms: pa.Array, lowercase: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(row, index) of every known token of pure-ASCII, null-free ``array`` (rows ``positions``).

    Works on the bytes: a token is a run of two or more word bytes within one string."""
    if not len(array):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    bounds, data = text_kernel.string_buffers(array)
    data = data[bounds[0] : bounds[-1]]
    bounds = bounds - bounds[0]
    word = _WORD[data]
    boundary = np.zeros(len(data) + 1, dtype=bool)  # a token cannot run across two strings
    boundary[bounds] = True
    starts = word & (boundary[:-1] | ~np.concatenate([[False], word[:-1]]))
    ends = word & (boundary[1:] | ~np.concatenate([word[1:], [False]]))
    single = starts & ends  # one-character runs: not tokens for \w\w+
    begins = np.flatnonzero(starts & ~single)
    stops = np.flatnonzero(ends & ~single) + 1
    token_bytes = data[word & ~single]
    if lowercase:
        token_bytes = _LOWER[token_bytes]
    offsets = np.concatenate([[0], np.cumsum(stops - begins)]).astype(np.int32)
    tokens = pa.StringArray.from_buffers(len(begins), pa.py_buffer(offsets), pa.py_buffer(token_bytes))
    ids = pc.index_in(tokens, value_set=terms).to_numpy(zero_copy_only=False)  # float, NaN if unknown
    known = ~np.isnan(ids)
    rows = positions[np.searchsorted(bounds, begins, side="right") - 1]
    return rows[known], ids[known].astype(np.int64)


def _python_tokens(
    texts: Sequence[str], positions: np.ndarray, pattern: str, index: dict[str, int], lowercase: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(row, index) of every known token, found by ``re`` exactly as scikit-learn does."""
    find, get = compiled_pattern(pattern).findall, index.get
    rows: list[int] = []
    ids: list[int] = []
    for row, text in zip(positions.tolist(), texts, strict=True):
        for term in find(text.lower() if lowercase else text):
            i = get(term)
            if i is not None:
                rows.append(row)
                ids.append(i)
    return np.asarray(rows, dtype=np.int64), np.asarray(ids, dtype=np.int64)


def _pad(n: int, *parts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Scatter (rows, indexes) parts into an ``[n, L]`` matrix of -1, each row's indexes first.

    Within a part, rows are non-decreasing (both finders go row by row)."""
    filled = np.zeros(n, dtype=np.int64)  # columns already used in each row
    placed = []
    for rows, ids in parts:
        counts = np.bincount(rows, minlength=n)
        first = np.cumsum(counts) - counts
        placed.append((rows, filled[rows] + np.arange(len(rows)) - first[rows], ids))
        filled += counts
    out = np.full((n, max(1, int(filled.max(initial=0)))), -1, dtype=np.int64)
    for rows, columns, ids in placed:
        out[rows, columns] = ids
    return out
