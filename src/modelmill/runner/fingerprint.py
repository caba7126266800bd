"""What a step's result depends on besides its inputs: code and library versions.

Code is fingerprinted without importing it: the step's module source is parsed for
imports, and every imported module of the same top-level package (the project's own
code) is followed and hashed too. Editing a helper a step uses therefore re-runs the
step; editing an unrelated module does not. modelmill's own machinery (store, runner,
tracking, CLI...) is not step code: it is covered by modelmill's version in the library
part of the key, so editing the runner does not invalidate every cached step. Imports
under ``if TYPE_CHECKING:`` are ignored (they never run).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

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
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
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


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``."""
    nodes: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return nodes


@lru_cache(maxsize=512)
def _read(path: Path, mtime_ns: int) -> str:
    return path.read_text(encoding="utf-8")


def code_fingerprint(module: str) -> dict[str, str]:
    """``{module: sha256(source)}`` for the module and the project modules it imports."""
    top = module.partition(".")[0]
    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name.partition(".")[0] != top or (name != module and _is_framework(name)):
            continue
        path = _module_file(name)
        if path is None:
            continue
        try:
            source = _read(path, path.stat().st_mtime_ns)
            imports = _imports(name, path, source)
        except (SyntaxError, UnicodeDecodeError, OSError) as exc:
            raise PipelineDefinitionError(
                f"cannot read step code in module {name} ({path}): {type(exc).__name__}: {exc}"
            ) from None
        seen[name] = sha256_text(source)
        todo.extend(imports)
        todo.extend(_parents(name))
    if module not in seen:
        seen[module] = _source_of_loaded(module)
    return dict(sorted(seen.items()))


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
