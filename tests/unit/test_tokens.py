"""token_ids(): the same tokens as scikit-learn's analyzer, on each road: the C tokenizer, Arrow's
kernels (no compiler) and Python's re."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from modelmill.datasets.nyc_demo import generate_listings
from modelmill.features import text_kernel
from modelmill.features.tokens import DEFAULT_TOKEN_PATTERN, token_ids
from tests.conftest import REAL_SAMPLE

ODD = [
    "", "a", "I'm a_b c-d e.f 12 x1 __ _", "Café CAFÉ naïve 空港 近く Ölmühle", "İstanbul ǅemal ß",
    "emoji 🏠 home!!", "tabs\tand\nnewlines", "\uff26\uff35\uff2c\uff2c width", "x²y ½ Ⅻ ٣٤",
    "e\u0301cole combining",
    "LOFT   loft Loft", "don't stop me now",
]  # fmt: skip


def names() -> list[str]:
    texts = generate_listings(3000, seed=9)["name"].fillna("").tolist()
    if REAL_SAMPLE.is_file():
        texts += pd.read_csv(REAL_SAMPLE, usecols=["name"])["name"].fillna("").astype(str).tolist()
    return texts + ODD


@pytest.fixture(params=["kernel", "arrow"])
def road(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Texts of 256 rows or more: the C tokenizer, or (no compiler) Arrow's kernels."""
    if request.param == "arrow":
        monkeypatch.setattr(text_kernel, "compiled_vocabulary", lambda terms: None)
    else:
        assert text_kernel.compiled_vocabulary(("aa",)) is not None  # CI has a C compiler
    return str(request.param)


def counts_by_sklearn(texts: list[str], vectorizer: TfidfVectorizer) -> list[Counter[int]]:
    analyze, vocabulary = vectorizer.build_analyzer(), vectorizer.vocabulary_
    return [Counter(vocabulary[t] for t in analyze(text) if t in vocabulary) for text in texts]


@pytest.mark.parametrize("lowercase", [True, False])
def test_same_tokens_as_scikit_learn(lowercase: bool, road: str) -> None:
    texts = names()
    vectorizer = TfidfVectorizer(lowercase=lowercase, max_features=3000).fit(texts + ODD * 5)
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    got = token_ids(np.asarray(texts, dtype=object), DEFAULT_TOKEN_PATTERN, terms, lowercase)
    expected = counts_by_sklearn(texts, vectorizer)
    assert [Counter(row[row >= 0].tolist()) for row in got] == expected
    few = token_ids(np.asarray(texts[:50], dtype=object), DEFAULT_TOKEN_PATTERN, terms, lowercase)
    assert [Counter(row[row >= 0].tolist()) for row in few] == expected[:50]  # the small-batch path
    assert {"café", "空港", "naïve"} <= set(terms) or not lowercase  # non-ASCII words took the slow path


def test_an_arrow_backed_column_gives_the_same_tokens_as_python_strings(road: str) -> None:
    """Batch scoring hands the feeds pandas' Arrow-backed text (several chunks, rows filtered
    out by validation, missing values); its tokens are scikit-learn's, like Python strings'."""
    from modelmill.features.onnx import OnnxInput, feeds

    texts = names()
    vectorizer = TfidfVectorizer(max_features=3000).fit(texts + ODD * 5)
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    half = len(texts) // 2
    wanted = [*texts[:half], None, *texts[half:]]
    parts = [pd.Series(wanted[: half + 1], dtype="str"), pd.Series(wanted[half + 1 :], dtype="str")]
    column = pd.concat(parts, ignore_index=True)  # two Arrow chunks
    kept = np.arange(len(column)) % 5 != 1
    frame = pd.DataFrame({"name": column[kept].reset_index(drop=True)})
    assert isinstance(frame["name"].array, pd.arrays.ArrowStringArray)
    spec = OnnxInput("name", "tokens", DEFAULT_TOKEN_PATTERN, vocabulary=tuple(terms))
    got = feeds(frame, [spec])["name"]
    expected = counts_by_sklearn([t or "" for t, k in zip(wanted, kept, strict=True) if k], vectorizer)
    assert [Counter(row[row >= 0].tolist()) for row in got] == expected
    python = frame["name"].fillna("").to_numpy(object)
    assert np.array_equal(got, token_ids(python, DEFAULT_TOKEN_PATTERN, terms))
    few = feeds(frame.head(40), [spec])["name"]  # under ARROW_MIN_ROWS: Python's re on the same texts
    assert [Counter(row[row >= 0].tolist()) for row in few] == expected[:40]


def test_other_patterns_take_the_python_path() -> None:
    texts = ["a b cc", "Café au lait", "x-y z"]
    vectorizer = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b").fit(texts)
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    got = token_ids(np.asarray(texts, dtype=object), vectorizer.token_pattern, terms)
    assert [Counter(row[row >= 0].tolist()) for row in got] == counts_by_sklearn(texts, vectorizer)


def test_shape_and_padding() -> None:
    got = token_ids(np.asarray([], dtype=object), DEFAULT_TOKEN_PATTERN, ["aa"])
    assert got.shape == (0, 1)
    got = token_ids(np.asarray(["aa bb aa", "zz", ""], dtype=object), DEFAULT_TOKEN_PATTERN, ["aa", "bb"])
    assert got.tolist() == [[0, 1, 0], [-1, -1, -1], [-1, -1, -1]]


def test_the_compiled_tokenizer_reads_a_slice_and_keeps_the_arrow_road_for_long_terms() -> None:
    import pyarrow as pa

    texts = names()
    vectorizer = TfidfVectorizer(max_features=500).fit(texts)
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    array = pa.array(["", *texts], type=pa.string()).slice(1, 1000)  # an offset into the buffers
    got = token_ids(array, DEFAULT_TOKEN_PATTERN, terms)
    assert [Counter(row[row >= 0].tolist()) for row in got] == counts_by_sklearn(texts[:1000], vectorizer)
    long = ["x" * 300, *terms[:20]]
    assert text_kernel.compiled_vocabulary(tuple(long)) is None
    rows = np.asarray([f"{'X' * 300} {terms[3]}", "nothing"] * 200, dtype=object)
    assert token_ids(rows, DEFAULT_TOKEN_PATTERN, long)[:2].tolist() == [[0, long.index(terms[3])], [-1, -1]]


def test_one_character_words_are_not_tokens_even_in_the_vocabulary(road: str) -> None:
    rows = np.asarray(["a bb a", "A_ b9 _"] * 200, dtype=object)  # \w\w+: "a" is never a token
    got = token_ids(rows, DEFAULT_TOKEN_PATTERN, ["a", "bb", "a_", "b9", "_"])
    assert got[:2].tolist() == [[1, -1], [2, 3]]


def test_without_a_compiler_the_arrow_road_gives_the_tokens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from modelmill.core import native

    monkeypatch.setenv("CC", "no-such-compiler-here")
    monkeypatch.setenv("MODELMILL_CACHE_DIR", str(tmp_path))
    native.forget_loaded()
    text_kernel.compiled_vocabulary.cache_clear()
    text_kernel._library.cache_clear()
    try:
        assert text_kernel.compiled_vocabulary(("aa", "bb")) is None
        rows = np.asarray(["aa bb AA", "zz"] * 200, dtype=object)
        assert token_ids(rows, DEFAULT_TOKEN_PATTERN, ["aa", "bb"])[:2].tolist() == [[0, 1, 0], [-1, -1, -1]]
    finally:
        native.forget_loaded()
        text_kernel.compiled_vocabulary.cache_clear()
        text_kernel._library.cache_clear()
