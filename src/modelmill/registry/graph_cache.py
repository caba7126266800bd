"""The cut of a model's ONNX graph, kept in the machine cache so a second load is cheap.

Cutting the course forest's graph (:func:`~modelmill.registry.compiled_graph.split_graph`)
imports the ``onnx`` package (1 s) and lays out 230,000 nodes (0.5 s): a third of a small
scoring job. The result depends only on the graph's bytes and on the code that cut it, so it
is kept under ``<cache>/graphs/<key>/`` (``before.onnx``, ``after.onnx``, ``trees.bin``,
``split.json``), ``key`` the SHA-256 of both. The trees' arrays are raw bytes described in
``split.json``, not an ``.npz``: ``np.load`` parses each array's header with ``ast``, which
CPython 3.11 does not allow in two threads at once (``SystemError: AST constructor
recursion depth mismatch`` when serving loaded a champion and a challenger together). A
folder is written beside its final name and renamed into place, so a reader sees a whole
entry or none; an entry that does not read back, or whose files do not match the SHA-256
sums in ``split.json`` (truncated, edited), is cut again. A graph the kernel does not
evaluate is remembered too, with its reason. The cache is an optimisation: when it cannot be
written, the cut is just not kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelmill.core.machine import cache_dir
from modelmill.registry.tree_masks import MASK_ARRAYS

# the code a cut depends on
_CODE = ("compiled_graph.py", "graph_narrow.py", "text_cut.py", "tree_layout.py", "tree_masks.py",
         "tree_kernel.py")
_ARRAYS = ("nodes", "values", "roots", "depths", "used", *MASK_ARRAYS)


def _key(blob: bytes) -> str:
    from importlib import metadata

    digest = hashlib.sha256(blob)
    for package in ("onnx", "onnxruntime"):  # they parse, infer and serialize the parts
        try:
            digest.update(metadata.version(package).encode())
        except metadata.PackageNotFoundError:
            digest.update(b"-")
    for name in _CODE:
        digest.update((Path(__file__).with_name(name)).read_bytes())
    return digest.hexdigest()[:32]


def cached_split(path: Path, split: Callable[[bytes], Any]) -> Any:
    """``split(bytes of path)`` (a ``GraphSplit``, or its ``GraphNotCompiled``), from the cache
    when this graph was cut before by this code."""
    from modelmill.registry.compiled_graph import GraphNotCompiled

    blob = Path(path).read_bytes()
    entry = cache_dir() / "graphs" / _key(blob)
    found = _read(entry)
    if found is not None:
        return found
    try:
        result = split(blob)
    except GraphNotCompiled as exc:
        if exc.lasting:
            _write(entry, {"refused": str(exc)})
        raise
    _write(entry, _facts(result), result)
    return result


def _facts(split: Any) -> dict[str, Any]:
    scalars = {k: v for k, v in split.trees.items() if k not in _ARRAYS}
    return {"trees_in": split.trees_in, "trees_out": split.trees_out, "passed": split.passed,
            "outputs": split.outputs, "trees": scalars,
            "texts": [plan.to_json() for plan in split.texts]}  # fmt: skip


def _packed(trees: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """The arrays' bytes one after another, and each one's dtype, shape and place."""
    chunks, layout, at = [], {}, 0
    for name in _ARRAYS:
        array = np.ascontiguousarray(trees[name])
        layout[name] = {"dtype": np.lib.format.dtype_to_descr(array.dtype), "shape": list(array.shape),
                        "offset": at}  # fmt: skip
        chunks.append(array.tobytes())
        at += array.nbytes
    return b"".join(chunks), layout


def _unpacked(blob: bytes, layout: dict[str, Any]) -> dict[str, np.ndarray]:
    found = {}
    for name in _ARRAYS:
        place = layout[name]
        descr = place["dtype"]
        dtype = np.dtype([tuple(f) for f in descr] if isinstance(descr, list) else descr)
        count = int(np.prod(place["shape"], dtype=np.int64))
        flat = np.frombuffer(blob, dtype=dtype, count=count, offset=int(place["offset"]))
        found[name] = flat.reshape(place["shape"]).copy()  # writable, not a view of the file's bytes
    return found


def _read(entry: Path) -> Any:
    """The entry's split (or its refusal, raised), ``None`` when absent or unreadable."""
    from modelmill.registry.compiled_graph import GraphNotCompiled, GraphSplit
    from modelmill.registry.text_cut import TextPlan

    try:
        facts = json.loads((entry / "split.json").read_text())
        if "refused" in facts:
            raise GraphNotCompiled(str(facts["refused"]))
        for name, digest in facts["sha256"].items():  # verified: a damaged entry is cut again
            if hashlib.sha256((entry / name).read_bytes()).hexdigest() != digest:
                return None
        trees = {**facts["trees"], **_unpacked((entry / "trees.bin").read_bytes(), facts["arrays"])}
        after = entry / "after.onnx"
        return GraphSplit(
            before=(entry / "before.onnx").read_bytes(), after=after.read_bytes() if after.exists() else None,
            trees=trees, trees_in=facts["trees_in"], trees_out=facts["trees_out"],
            passed=list(facts["passed"]), outputs=list(facts["outputs"]),
            texts=[TextPlan.from_json(plan) for plan in facts["texts"]],
        )  # fmt: skip
    except GraphNotCompiled:
        raise
    except (OSError, ValueError, KeyError, TypeError):  # absent, truncated or not ours: cut again
        return None


def _write(entry: Path, facts: dict[str, Any], split: Any = None) -> None:
    """Write ``entry`` whole or not at all (never raises: the cache is an optimisation)."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    except OSError:
        return
    try:
        if split is not None:
            (temporary / "before.onnx").write_bytes(split.before)
            if split.after is not None:
                (temporary / "after.onnx").write_bytes(split.after)
            blob, layout = _packed(split.trees)
            (temporary / "trees.bin").write_bytes(blob)
            facts = {**facts, "arrays": layout}
        files = sorted(p.name for p in temporary.iterdir())
        digests = {name: hashlib.sha256((temporary / name).read_bytes()).hexdigest() for name in files}
        (temporary / "split.json").write_text(json.dumps({**facts, "sha256": digests}))
        if entry.exists():  # damaged (it did not read back): replace it
            shutil.rmtree(entry, ignore_errors=True)
        os.rename(temporary, entry)  # fails if another process put its (same) entry there first
    except OSError:
        pass
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
