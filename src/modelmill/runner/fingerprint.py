"""What a step's result depends on besides its inputs: code and library versions.

Code is fingerprinted without importing it: the step's module source is parsed for
imports, and every imported module of the project's own code is followed and hashed too.
The project's code is the step's top-level package, and, when that package (or a flat
module such as ``mysteps.py``) lives in a project folder rather than among installed
libraries, every module or package beside it in that folder (``helpers.py`` next to
``mysteps.py``, ``common/`` next to ``steps/``). Editing a helper a step uses therefore
re-runs the step; editing an unrelated module does not. modelmill's own machinery (store, runner,
tracking, CLI...) is not step code: it is covered by modelmill's version in the library
part of the key, so editing the runner does not invalidate every cached step. Imports
under ``if TYPE_CHECKING:`` are ignored (they never run).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import sys
import sysconfig
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from modelmill.core.errors import PipelineDefinitionError
from modelmill.core.hashing import sha256_text

KEY_LIBRARIES = (
    "modelmill", "numpy", "pandas", "scikit-learn", "scipy", "pyarrow", "skops", "mlflow",
    "skl2onnx", "onnx", "onnxruntime",  # the onnx extra: installing it adds the ONNX fast path
)  # fmt: skip


FRAMEWORK = tuple(
    f"modelmill.{name}" for name in ("core", "store", "runner", "tracking", "cli", "api", "config")
)


def _is_framework(module: str) -> bool:
    return module == "modelmill" or any(module == f or module.startswith(f + ".") for f in FRAMEWORK)


@lru_cache(maxsize=1)
def _library_dirs() -> frozenset[Path]:
    """Where installed libraries live: modules there are never project code."""
    paths = sysconfig.get_paths()
    found = {Path(paths[k]).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    sites = {Path(p).resolve() for p in sys.path if Path(p).name in ("site-packages", "dist-packages")}
    return frozenset(found | sites)


def project_root(module: str) -> Path | None:
    """The folder holding ``module``'s top-level package or file, unless it is a library folder."""
    try:
        spec = importlib.util.find_spec(module.partition(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin and spec.origin.endswith(".py"):
        path = Path(spec.origin)
        root = path.parent.parent if path.name == "__init__.py" else path.parent
    elif spec.submodule_search_locations:  # a namespace package (a folder without __init__.py)
        root = Path(next(iter(spec.submodule_search_locations))).parent
    else:
        return None
    root = root.resolve()
    return None if root in _library_dirs() else root


def _in_root(module: str, root: Path | None, cache: dict[str, bool]) -> bool:
    """Whether ``module``'s top level lives directly in the project folder ``root``."""
    top = module.partition(".")[0]
    if root is None:
        return False
    if top not in cache:
        cache[top] = project_root(top) == root
    return cache[top]


def _module_file(module: str) -> Path | None:
    """The ``.py`` file of ``module``, found by walking package directories.

    Only the top-level package is looked up with ``find_spec`` (which executes nothing
    for a top-level name); submodules are located on disk, so computing a cache key
    never imports step code or its heavy dependencies.
    """
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    dirs = [Path(d) for d in (spec.submodule_search_locations or [])]
    found: Path | None = None
    for part in rest:
        found = next(
            (c for d in dirs for c in (d / part / "__init__.py", d / f"{part}.py") if c.is_file()), None
        )
        if found is None:
            return None  # not a module (e.g. ``from pkg.mod import function``) or not on disk
        dirs = [found.parent] if found.name == "__init__.py" else []
    return found


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(module: str, path: Path, source: str) -> set[str]:
    """Absolute names of modules (and possible submodules) that ``source`` imports."""
    package = module if _is_package(path) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            try:
                base = importlib.util.resolve_name("." * node.level + base, package)
            except ImportError:
                continue
        found.add(base)
        found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def _parents(module: str) -> list[str]:
    """Enclosing packages: importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (lazy imports inside functions count), except
    those under ``if TYPE_CHECKING:``. Only statement bodies are walked: an import is a
    statement, and skipping the expressions keeps this fast."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
            continue
        type_checking = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for field in ("orelse",) if type_checking else _BODIES:
            todo.extend(getattr(node, field, None) or ())
    return found


@lru_cache(maxsize=1024)
def _parsed(module: str, path: Path, mtime_ns: int, size: int) -> tuple[str, frozenset[str]]:
    """The source's hash and its imports, once per file version and process (steps share modules)."""
    source = path.read_text(encoding="utf-8")
    return sha256_text(source), frozenset(_imports(module, path, source))


def code_fingerprint(module: str, memo: FingerprintMemo | None = None) -> dict[str, str]:
    """``{module: sha256(source)}`` for the module and the project modules it imports.

    With a ``memo``, a module whose files all still have the size and modification time they
    had when it was fingerprinted is not parsed again (a cached run's cost is a few ``stat``s).
    """
    remembered = memo.get(module) if memo is not None else None
    if remembered is not None:
        return remembered
    seen, files = _walk(module)
    if module not in seen:
        seen[module] = _source_of_loaded(module)
    fingerprint = dict(sorted(seen.items()))
    if memo is not None and files:
        memo.put(module, fingerprint, files)
    return fingerprint


def _walk(module: str) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """The hashes of ``module`` and the project modules it imports, and the files read
    (``path -> (mtime_ns, size)``)."""
    top = module.partition(".")[0]
    root = project_root(module)
    beside: dict[str, bool] = {}
    seen: dict[str, str] = {}
    files: dict[str, tuple[int, int]] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or (name != module and _is_framework(name)):
            continue
        if name.partition(".")[0] != top and not _in_root(name, root, beside):
            continue
        path = _module_file(name)
        if path is None:
            continue
        try:
            stat = path.stat()
            seen[name], imports = _parsed(name, path, stat.st_mtime_ns, stat.st_size)
        except (SyntaxError, UnicodeDecodeError, OSError) as exc:
            raise PipelineDefinitionError(
                f"cannot read step code in module {name} ({path}): {type(exc).__name__}: {exc}"
            ) from None
        files[str(path)] = (stat.st_mtime_ns, stat.st_size)
        todo.extend(imports)
        todo.extend(_parents(name))
    return seen, files


class FingerprintMemo:
    """Code fingerprints kept across runs in a JSON file, each with the files it read.

    Parsing every module a step imports costs more than the rest of a fully cached run; like
    DVC's stat cache, a fingerprint is reused while each of its files keeps its size and
    modification time (any edit changes one of them), and recomputed otherwise. The file is
    only an accelerator: unreadable, it is ignored; unwritable, nothing is remembered.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, Any] = {}
        self.changed = False
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                self.entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self.entries = {}

    def get(self, module: str) -> dict[str, str] | None:
        """The remembered fingerprint of ``module`` when none of its files changed since."""
        entry = self.entries.get(module)
        if not isinstance(entry, dict):
            return None
        try:
            # the same module name may be another file now: a checkout of another revision
            # (``modelmill run --rev``) shares the workspace, and so this memo
            if str(_module_file(module)) not in entry["files"]:
                return None
            for file, (mtime_ns, size) in entry["files"].items():
                stat = os.stat(file)
                if stat.st_mtime_ns != mtime_ns or stat.st_size != size:
                    return None
            return {str(k): str(v) for k, v in entry["fingerprint"].items()}
        except (OSError, KeyError, TypeError, ValueError, AttributeError):
            return None

    def put(self, module: str, fingerprint: dict[str, str], files: dict[str, tuple[int, int]]) -> None:
        """Remember ``module``'s fingerprint and the files it was computed from."""
        self.entries[module] = {"fingerprint": fingerprint, "files": {f: list(v) for f, v in files.items()}}
        self.changed = True

    def save(self) -> None:
        """Write the memo (atomically) when something changed; errors are ignored."""
        if not self.changed or self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.entries, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
            self.changed = False
        except OSError:
            pass


def _source_of_loaded(module: str) -> str:
    """Fallback for modules without a ``.py`` file (e.g. defined in ``__main__``)."""
    mod = sys.modules.get(module)
    try:
        return sha256_text(inspect.getsource(mod)) if mod else "unknown"
    except (OSError, TypeError):
        return "unknown"


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of the libraries whose upgrade can change results (absent ones omitted)."""
    versions = {"python": ".".join(map(str, sys.version_info[:3]))}
    for dist in (*KEY_LIBRARIES, *extra):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions
