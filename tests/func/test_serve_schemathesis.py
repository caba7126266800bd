"""Property-based tests of ``modelmill serve`` against its own OpenAPI schema (schemathesis).

The app is the real one (``create_app``) serving a real fitted NYC pipeline registered as
``models:/nyc_rentals@prod``; requests go in-process through schemathesis' ASGI transport
(which also runs the app's lifespan, so the model loads and the alias poller runs). For
every operation, schemathesis generates requests from ``/openapi.json`` (valid ones, and
invalid ones for the two POST bodies) and checks each response:

* ``not_a_server_error``: no 5xx, ever;
* ``status_code_conformance``, ``content_type_conformance``, ``response_schema_conformance``,
  ``response_headers_conformance``: the answer is one the schema declares;
* ``negative_data_rejection``: a body the schema forbids gets a 4xx;
* ``positive_data_acceptance`` (``/predict`` only): a listing the schema allows is scored.
  Not on ``/invocations``: MLflow's ``dataframe_split`` pairs ``columns`` with row
  positions, which JSON Schema cannot express, so most generated splits are rightly 400;
* with ``MODELMILL_API_KEY`` set, ``ignored_auth``: every operation but ``/health`` gives
  401 without the key (and the schema declares the ``X-API-Key`` scheme).

``pytest.mark.parametrize`` drives one Hypothesis test per operation and generation mode
(``operation.as_strategy``) rather than ``schemathesis.pytest.from_fixture``: the lazy
fixture loader of schemathesis 4.32 fails on pytest 9.2 (``'Function' object has no
attribute '_nodeid'``), and the schema is only complete once the model has loaded.

The default run is short and deterministic (``derandomize=True``, ``EXAMPLES`` examples per
operation and mode); ``-m slow`` runs ``SLOW_EXAMPLES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi

from modelmill import Workspace
from modelmill.registry.promotion import promote
from modelmill.serve.app import create_app
from modelmill.serve.settings import ServeSettings
from tests.func.conftest import NAME, put_model, wait_for

MAX_BATCH = 20  # keeps generated batches cheap; the bound is in the schema (maxItems)
API_KEY = "schemathesis-key"
EXAMPLES = 15
SLOW_EXAMPLES = 300
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
OPERATIONS = [
    ("GET", "/health", [POSITIVE]),  # the GETs take no parameters: nothing to make invalid
    ("GET", "/ready", [POSITIVE]),
    ("GET", "/metadata", [POSITIVE]),
    ("GET", "/metrics", [POSITIVE]),
    ("GET", "/rollout", [POSITIVE]),
    ("POST", "/predict", [POSITIVE, NEGATIVE]),
    ("POST", "/invocations", [POSITIVE, NEGATIVE]),
]
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path, modes in OPERATIONS
    for mode in modes
]
BASE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def registered(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with the model registered as nyc_rentals@prod (v1); apps live until the end."""
    tmp = tmp_path_factory.mktemp("serve-schemathesis")
    set_hypothesis_home_dir(str(tmp / ".hypothesis"))  # its caches, not in the checkout (cwd at import)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELMILL_CACHE_DIR", str(tmp / "cache"))
        mp.delenv("MODELMILL_API_KEY", raising=False)
        ws = Workspace(tmp / "ws")
        promote(ws, put_model(ws, model_dir, tmp, "1").ref, NAME)
        try:
            yield ws.root
        finally:
            asgi.shutdown_lifespans()  # the lifespans schemathesis started (model pollers)


def start_app(workspace: Path, api_key: str | None) -> Any:
    """The real app with its lifespan running in schemathesis' ASGI transport, model loaded."""
    settings = ServeSettings(workspace=workspace, max_batch=MAX_BATCH, api_key=api_key, poll_interval=0.5)
    app = create_app(settings)
    headers = {"X-API-Key": api_key} if api_key else {}
    with asgi.get_client(app) as client:  # starts the lifespan: the model loads in the background
        wait_for(lambda: client.get("/ready", headers=headers).status_code == 200)
    return app


@pytest.fixture(scope="module")
def open_app(registered: Path) -> Any:
    return start_app(registered, None)


@pytest.fixture(scope="module")
def keyed_app(registered: Path) -> Any:
    """The same service with MODELMILL_API_KEY set (only loaded by workers that run its tests)."""
    return start_app(registered, API_KEY)


def load_schema(app: Any, headers: dict[str, str]) -> Any:
    """The app's schema; a body over ``max_batch`` rows is rightly 413 (Content Too Large, declared
    in the schema), so 413 counts as a rejection of negative data, next to schemathesis' defaults."""
    rejected = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
    config = schemathesis.Config.from_dict(
        {"generation": {"deterministic": True, "database": "none"},
         "checks": {"negative_data_rejection": {"expected-statuses": rejected}}}
    )  # fmt: skip
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config, headers=headers)


def run_cases(
    schema: Any, method: str, path: str, mode: GenerationMode, examples: int, auth: bool = False
) -> None:
    operation = schema[path][method]
    checks: list[Callable[..., Any]] = list(BASE_CHECKS)
    if mode is POSITIVE and path == "/predict":
        checks.append(positive_data_acceptance)
    headers = None
    if auth:
        checks.append(ignored_auth)
        headers = {"X-API-Key": API_KEY}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    check()


def test_every_operation_is_covered(open_app: Any) -> None:
    schema = load_schema(open_app, {})
    listed = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert listed == {(method, path) for method, path, _ in OPERATIONS}
    raw = schema.raw_schema
    assert "Row" in raw["components"]["schemas"]  # the model is loaded: bodies are described
    assert "requestBody" in raw["paths"]["/invocations"]["post"]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_api_conforms_to_its_schema(open_app: Any, method: str, path: str, mode: GenerationMode) -> None:
    run_cases(load_schema(open_app, {}), method, path, mode, EXAMPLES)


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_api_with_api_key(keyed_app: Any, method: str, path: str, mode: GenerationMode) -> None:
    schema = load_schema(keyed_app, {"X-API-Key": API_KEY})
    assert schema.raw_schema["components"]["securitySchemes"]["APIKey"]["name"] == "X-API-Key"
    run_cases(schema, method, path, mode, max(EXAMPLES // 3, 3), auth=True)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_api_conforms_to_its_schema_long(open_app: Any, method: str, path: str, mode: GenerationMode) -> None:
    run_cases(load_schema(open_app, {}), method, path, mode, SLOW_EXAMPLES)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [  # what schemathesis found (each was a 500 or a schema-valid request refused before)
        ("/predict", {"latitude": 1e300}, 422),  # past float32: the forest's cast raised
        ("/predict", {"host_id": 2**64}, 422),  # past int64: building the frame overflowed
        ("/predict", {"minimum_nights": 3.0}, 200),  # an integer in JSON Schema
        ("/predict", {"minimum_nights": 2.5}, 422),
        ("/invocations", {"dataframe_records": []}, 400),  # no rows: the pipeline raised
        ("/invocations", {"dataframe_split": {"columns": ["id"], "data": []}}, 400),
        ("/invocations", {"dataframe_records": [{"id": 1}], "params": "x"}, 400),
        ("/invocations", {"dataframe_records": [{"latitude": -1e39}]}, 400),
    ],
)
def test_found_by_schemathesis(open_app: Any, path: str, body: Any, status: int) -> None:
    with asgi.get_client(open_app) as client:
        response = client.post(path, json=body)
    assert response.status_code == status, response.text
