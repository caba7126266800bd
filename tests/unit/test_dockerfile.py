"""Static checks of the service image (``Dockerfile`` and ``.dockerignore``).

The image is built and started by ``make test-image`` (``tests/deploy/test_image.py``); these
tests parse the instructions and hold them to what the deployment relies on (slim Python
base, multi-stage wheel build, ``modelmill[onnx]``, a fixed non-root uid, no model or data
baked in, ``modelmill serve`` on 0.0.0.0:8000 with a python HEALTHCHECK on /health).
The CMD is parsed by the real ``modelmill serve`` command so it cannot drift from the CLI.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
UID = "10001"
SLIM_PYTHON = re.compile(
    r"(?:docker\.io/(?:library/)?)?python:(\d+)\.(\d+)(?:\.\d+)?-slim(?:-\w+)?(?:@sha256:\w+)?"
)
ONNX_WHEEL = re.compile(r"modelmill[^\s\"']*\.whl\)?\[[^\]]*\bonnx\b[^\]]*\]")  # ...whl)[onnx]
PORT = "8000"
DATA_OR_MODEL = re.compile(
    r"(\.(csv|parquet|db|sqlite|skops|pkl|joblib|onnx)$)|(^|/)(mlruns|mlartifacts|\.modelmill|data|models?)(/|$)"
)


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages (continuation lines joined, comments dropped)."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append((current + line).strip())
        current = ""
    assert not current, "the Dockerfile ends with a line continuation"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            image = next(p for p in parts if not p.startswith("--"))  # after --platform=...
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], image)
            name = parts[-1] if len(parts) >= 3 and parts[-2].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif keyword == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append(Instruction(keyword, rest))
    return args, stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        for token in shlex.split(instruction.args):
            key, sep, value = token.partition("=")
            assert sep, f"use ENV KEY=VALUE, not the legacy form: {instruction.args}"
            env[key] = value
    return env


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())[1]


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_slim_python_bases_and_a_multi_stage_wheel_build(stages: list[Stage]) -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(p) for p in re.search(r">=\s*(\d+)\.(\d+)", requires).groups())  # type: ignore[union-attr]
    assert len(stages) >= 2, "build the wheel in its own stage"
    for stage in stages:
        match = SLIM_PYTHON.fullmatch(stage.base)
        assert match, f"base image {stage.base!r} is not a slim Python image"
        assert (int(match[1]), int(match[2])) >= minimum
    build = stages[0]
    assert any(re.search(r"\bpip wheel\b|\bpython -m build\b", i.args) for i in build.all("RUN"))


def test_the_runtime_installs_the_wheel_with_the_onnx_extra(runtime: Stage) -> None:
    installs = [i.args for i in runtime.all("RUN") if re.search(r"\bpip install\b", i.args)]
    assert installs, "the runtime stage installs the wheel"
    assert any(ONNX_WHEEL.search(a) for a in installs), installs
    assert all("--no-cache-dir" in a or "PIP_NO_CACHE_DIR" in env_of(runtime) for a in installs)


def test_nothing_but_the_sources_is_copied(stages: list[Stage]) -> None:
    """No model, data or registry file enters the image: only pyproject.toml, README.md, src/."""
    for stage in stages:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            assert instruction.keyword == "COPY", "ADD fetches URLs and unpacks archives: use COPY"
            parts = [p for p in shlex.split(instruction.args) if not p.startswith("--")]
            for source in parts[:-1]:
                assert not DATA_OR_MODEL.search(source.strip("./")), f"{source} looks like data or a model"
                assert source.strip("./") in {"pyproject.toml", "README.md", "src"}, source
            if "--from=" in instruction.args:
                pytest.fail(f"the runtime copies from another stage: {instruction.args}")
    runtime_env = env_of(stages[-1])
    assert "MLFLOW_TRACKING_URI" not in runtime_env, "the registry is given at run time, not baked in"


def test_runs_as_a_fixed_non_root_user_with_a_writable_home(runtime: Stage) -> None:
    users = runtime.all("USER")
    assert users, "the runtime stage must switch to a non-root user"
    user = users[-1].args.split(":")[0]
    assert user == UID, f"USER {users[-1].args}: use the numeric uid {UID} (runAsNonRoot can check it)"
    last_user = max(i for i, ins in enumerate(runtime.instructions) if ins.keyword == "USER")
    assert all(ins.keyword not in {"RUN", "COPY"} for ins in runtime.instructions[last_user + 1 :])
    run = " ".join(i.args for i in runtime.all("RUN"))
    assert re.search(rf"useradd\b[^&]*--uid {UID}\b", run), "create the user with the fixed uid"
    env = env_of(runtime)
    home = env.get("MODELMILL_HOME")
    assert home and home.startswith("/") and home not in {"/", "/root", "/tmp"}
    assert re.search(rf"chown\s+(-R\s+)?{UID}(:{UID})?\s+{re.escape(home)}\b", run), f"chown {home} to {UID}"


def test_python_environment(runtime: Stage) -> None:
    env = env_of(runtime)
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"


def test_cmd_serves_on_all_interfaces_and_the_cli_accepts_it(runtime: Stage) -> None:
    [cmd] = [exec_form(i.args) for i in runtime.all("CMD")][-1:]
    assert not runtime.all("ENTRYPOINT")
    assert cmd[:2] == ["modelmill", "serve"], cmd
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--port") + 1] == PORT
    assert PORT in " ".join(i.args for i in runtime.all("EXPOSE")).split()

    import typer

    from modelmill.cli import app
    from modelmill.serve.settings import parse_model_spec

    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    ctx = serve.make_context("serve", cmd[2:])  # raises on an unknown option or a bad value
    assert ctx.params["host"] == "0.0.0.0" and ctx.params["port"] == int(PORT)
    if ctx.params.get("model"):
        assert parse_model_spec(ctx.params["model"])["kind"] == "registry"


def test_healthcheck_uses_python_on_health(runtime: Stage) -> None:
    [check] = runtime.all("HEALTHCHECK")
    options, _, command = check.args.partition("CMD ")
    assert command, "HEALTHCHECK CMD [...]"
    argv = exec_form(command)
    assert argv[0] in {"python", "python3"}, "slim images have no curl or wget"
    code = argv[argv.index("-c") + 1]
    compile(code, "<healthcheck>", "exec")
    assert f"127.0.0.1:{PORT}/health" in code or f"localhost:{PORT}/health" in code
    assert "--timeout=" in options and "--start-period=" in options


def _glob(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus ``**``) as a regex on slash paths."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            close = pattern.index("]", i)
            out, i = out + pattern[i : close + 1], close + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _glob(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_data_models_and_environments_out() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    for path in [
        ".venv/bin/python",
        ".git/HEAD",
        ".modelmill/mlflow.db",
        ".modelmill/blobs/ab/cdef",
        "mlruns/0/meta.yaml",
        "mlartifacts/1/model/model.skops",
        "data/sample.csv",
        "nyc_airbnb_2019_sample.csv",
        "listings.parquet",
        "mlflow.db",
        ".hypothesis/constants/x",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        "tests/func/test_serve.py",
        "src/modelmill/__pycache__/cli.cpython-311.pyc",
        "src/modelmill/sample.csv",
    ]:
        assert _ignored(path, patterns), f"{path} would be sent to the Docker daemon"
    for path in [
        "pyproject.toml",
        "README.md",
        "src/modelmill/serve/app.py",
        "src/modelmill/conf/config.yaml",
        "src/modelmill/store/schema.sql",
        "src/modelmill/datasets/nyc_stats.json",
    ]:
        assert not _ignored(path, patterns), f"{path} is needed to build the wheel"
    package_files = [p.relative_to(REPO).as_posix() for p in (REPO / "src").rglob("*") if p.is_file()]
    needed = [p for p in package_files if "__pycache__" not in p]
    assert needed and not [p for p in needed if _ignored(p, patterns)]
