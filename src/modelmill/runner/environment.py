"""A step's own Python environment: built once from its lock, reused, part of its cache key.

A step that declares ``environment: steps/fit.requirements.txt`` runs in a virtual environment
made for that file, so two steps of one pipeline may pin conflicting versions of a library
(and neither needs what the main environment has). The environment is keyed by the lock's
bytes, the interpreter and the platform (:meth:`StepEnvironment.digest`): it is built the first
time under ``<workspace>/envs/<digest>`` and reused by every later run, and the digest is in
the step's cache key, so editing the lock re-runs the step.

Building uses ``uv`` when it is on ``PATH`` (fast, shares a cache), else ``venv`` plus the
main environment's ``pip`` pointed at the new interpreter (``pip --python``), which needs no
network for the environment itself. ``offline`` never reaches an index: the packages come
from the ``find_links`` folders of wheels. A lock that cannot be installed is one
:class:`~modelmill.core.errors.EnvironmentBuildError` naming the lock, the installer's own
last words and the fix, raised before any step runs; a half-built environment is removed.

A lock is a requirements file (``pip``'s format, hashes included) or a ``pyproject.toml``
whose ``[project] dependencies`` are installed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from modelmill.core.errors import EnvironmentBuildError, PipelineDefinitionError
from modelmill.core.hashing import sha256_text
from modelmill.tracking.lock import interpreter as interpreter_facts

COMPLETE = "modelmill-environment.json"  # written last: an environment without it is rebuilt
INSTALL_TIMEOUT_S = 1800


@dataclass(frozen=True)
class StepEnvironment:
    """A declared environment: the lock file and how to install it."""

    lock: str  # absolute path of the requirements / pyproject.toml file
    find_links: tuple[str, ...] = ()
    offline: bool = False
    installer: str = "auto"  # auto | uv | pip
    extra: tuple[str, ...] = field(default=())  # installer arguments, e.g. ("--pre",)

    @classmethod
    def declared(
        cls, step: str, lock: str, root: str | None, *, find_links: tuple[str, ...] = (),
        offline: bool = False, installer: str = "auto",
    ) -> StepEnvironment:  # fmt: skip
        """The environment a step declares by path (relative to ``root``), checked now."""
        base = Path(root) if root else Path.cwd()
        path = (base / lock).absolute()
        if not path.is_file():
            raise PipelineDefinitionError(
                f"step '{step}': environment file {lock} does not exist (looked in {base}); give the "
                "path of a requirements.txt or pyproject.toml relative to the project folder"
            )
        if installer not in ("auto", "uv", "pip"):
            raise PipelineDefinitionError(f"environments.installer={installer!r}: expected auto, uv or pip")
        links = tuple(str((base / f).absolute()) for f in find_links)
        return cls(str(path), links, offline, installer)

    def requirements(self) -> list[str]:
        """The lock's requirement lines (a ``pyproject.toml``'s ``[project] dependencies``)."""
        path = Path(self.lock)
        if path.name != "pyproject.toml":
            return [path.read_text(encoding="utf-8")]
        try:
            project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
        except tomllib.TOMLDecodeError as exc:
            raise EnvironmentBuildError(f"environment file {path} is not valid TOML: {exc}") from None
        return [str(d) for d in project.get("dependencies", [])]

    def digest(self) -> str:
        """What makes two environments the same: the lock's content, interpreter and platform."""
        try:
            content = self.requirements()
        except OSError as exc:
            raise EnvironmentBuildError(f"cannot read environment file {self.lock}: {exc}") from None
        return sha256_text(json.dumps({"lock": content, "python": interpreter(), "extra": list(self.extra)}))


def interpreter() -> str:
    """The interpreter an environment is built from: implementation, version, platform."""
    facts = interpreter_facts()
    return f"{facts['implementation']}-{facts['version']}-{facts['system']}-{facts['machine']}"


def environment_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment(env: StepEnvironment, envs_dir: Path) -> Path:
    """The python of ``env``'s environment under ``envs_dir``, built first when missing.

    Concurrent runs wait on a lock file; the one that builds writes :data:`COMPLETE` last,
    so a build killed half-way is rebuilt, never used.
    """
    digest = env.digest()
    folder = envs_dir / digest[:16]
    if (folder / COMPLETE).is_file():
        return environment_python(folder)
    envs_dir.mkdir(parents=True, exist_ok=True)
    with open(envs_dir / f"{digest[:16]}.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (folder / COMPLETE).is_file():
            shutil.rmtree(folder, ignore_errors=True)
            try:
                _build(env, folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            record = {
                "lock": env.lock,
                "digest": digest,
                "python": interpreter(),
                "installer": _installer(env),
            }
            (folder / COMPLETE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return environment_python(folder)


def uv_binary() -> str | None:
    """``uv``: the one installed with the ``uv`` package beside this interpreter, else on ``PATH``."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _installer(env: StepEnvironment) -> str:
    if env.installer == "uv" or (env.installer == "auto" and uv_binary()):
        if not uv_binary():
            raise EnvironmentBuildError(
                "environments.installer=uv but uv is not installed; pip install uv, or use pip"
            )
        return "uv"
    return "pip"


def _build(env: StepEnvironment, folder: Path) -> None:
    requirements = folder.with_name(f"{folder.name}.requirements.txt")
    requirements.write_text("\n".join(env.requirements()) + "\n", encoding="utf-8")
    links = [a for f in env.find_links for a in ("--find-links", f)]
    python = str(environment_python(folder))
    try:
        if _installer(env) == "uv":
            uv = str(uv_binary())
            _run(env, [uv, "venv", "--quiet", "--python", sys.executable, str(folder)])
            index = ["--offline", "--no-index"] if env.offline else []
            _run(env, [uv, "pip", "install", "--quiet", "--python", python, *index, *links, *env.extra,
                       "-r", str(requirements)])  # fmt: skip
            return
        pip_python = str(_pip_python(env, folder))
        target = [] if pip_python == python else ["--python", python]
        index = ["--no-index"] if env.offline else []
        _run(env, [pip_python, "-m", "pip", *target, "install", "--quiet", "--disable-pip-version-check",
                   "--no-input", *index, *links, *env.extra, "-r", str(requirements)])  # fmt: skip
    finally:
        requirements.unlink(missing_ok=True)


def _pip_python(env: StepEnvironment, folder: Path) -> Path:
    """The interpreter whose pip installs: this one's (``pip --python`` into a bare venv), or,
    when this environment has no pip, the new environment's own (bootstrapped by ``ensurepip``)."""
    has_pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0
    _run(env, [sys.executable, "-m", "venv", *([] if not has_pip else ["--without-pip"]), str(folder)])
    return Path(sys.executable) if has_pip else environment_python(folder)


def _run(env: StepEnvironment, argv: list[str]) -> None:
    """Run one build command; its failure becomes one line naming the lock and the fix."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                              env={**os.environ, "PIP_NO_INPUT": "1"})  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentBuildError(f"cannot build the environment of {env.lock}: {exc}") from None
    if done.returncode == 0:
        return
    lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
    said = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "no output")
    where = (
        f"offline, from {', '.join(env.find_links) or 'no wheel folder'}" if env.offline else "from the index"
    )
    raise EnvironmentBuildError(
        f"cannot install environment {env.lock} ({where}): {said[:300]}. Fix the lock, or make its "
        "packages available: environments.find_links (folders of wheels), environments.offline"
    )
