"""One way to turn a ``--model`` reference into a local, verified model directory.

Every command that takes a model (``score``, ``monitor``, ``test``, ``serve``) accepts the
same forms, resolved here and nowhere else:

* ``models:/NAME@ALIAS`` or ``models:/NAME/N``: the MLflow registry (the workspace's SQLite
  store unless a tracking URI names another). The files are downloaded into a temporary
  directory that lives exactly as long as the caller's ``with`` block (success, error or
  Ctrl-C) and are verified against the digest recorded at registration
  (:func:`modelmill.registry.checks.verify_copy`);
* ``NAME``, ``NAME:vN`` or ``NAME:ALIAS``: the artifact store, read in place (the store
  verifies the digest on every read);
* a directory holding an ``MLmodel`` file: the caller's own files, used as they are.

Resolving (which version the reference names *now*, :meth:`ModelResolver.find`) and fetching
(its files, :meth:`ModelResolver.fetch`) are separate, so the service can notice that an
alias moved without downloading anything and then download exactly the version it saw.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmill.core.errors import ArtifactNotFoundError, ModelmillError, UsageError
from modelmill.core.names import parse_ref

if TYPE_CHECKING:
    from modelmill.core.types import ArtifactVersion
    from modelmill.registry.mlflow_registry import MlflowRegistry, RegistryVersion

REGISTRY, STORE, DIRECTORY = "registry", "store", "directory"
FORMS = (
    "pass --model models:/NAME@ALIAS, NAME[:vN|:ALIAS] from the store (modelmill artifacts list) "
    "or a model directory"
)
_REGISTRY_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d{1,18}))")


@dataclass(frozen=True)
class Reference:
    """A parsed ``--model``: where to look (``kind``) and for what."""

    text: str
    kind: str  # REGISTRY, STORE or DIRECTORY
    name: str
    alias: str | None = None
    version: int | None = None

    @property
    def moves(self) -> bool:
        """Whether it may name another version later (an alias, or a store name's latest)."""
        return self.kind != DIRECTORY and self.version is None


def parse_reference(text: str, *, directories: bool = True) -> Reference:
    """The :class:`Reference` for ``text``; a :class:`UsageError` for a malformed one.
    ``directories=False`` (the service) never reads a path as a model directory."""
    from modelmill.registry.mlflow_registry import validate_model_name

    if text.startswith("models:/"):
        match = _REGISTRY_URI.fullmatch(text)
        if match is None:
            raise UsageError(f"'{text}': expected models:/NAME@ALIAS or models:/NAME/VERSION")
        number = match["version"]
        return Reference(text, REGISTRY, validate_model_name(match["name"]), match["alias"],
                         int(number) if number else None)  # fmt: skip
    if directories and Path(text).is_dir():
        return Reference(text, DIRECTORY, Path(text).name)
    try:
        ref = parse_ref(text)
    except UsageError as exc:
        raise UsageError(f"no model '{text}': {exc}; {FORMS}") from None
    return Reference(text, STORE, ref.name, ref.alias, ref.version)


@dataclass(frozen=True)
class ResolvedModel:
    """The concrete version a reference names now (no file fetched yet)."""

    reference: Reference
    name: str  # registered model, artifact name or directory name
    version: int | None  # registry or store version number (None for a directory)
    store_version: ArtifactVersion | None = None
    registry_version: RegistryVersion | None = None
    training_run_id: str | None = None  # the run that trained it, when the store knows

    @property
    def label(self) -> str:
        """What the user asked for, resolved: the store ref, the ``models:/`` URI or the path."""
        return self.store_version.ref if self.store_version else self.reference.text

    @property
    def pinned(self) -> str:
        """A reference that always means exactly this version."""
        if self.registry_version is not None:
            return self.registry_version.uri
        return self.store_version.ref if self.store_version else self.reference.text

    @property
    def store_ref(self) -> str | None:
        """The store artifact this model is (or was registered from), when known."""
        if self.store_version is not None:
            return self.store_version.ref
        return self.registry_version.artifact if self.registry_version else None


@dataclass(frozen=True)
class LocalModel:
    """A resolved model and the local directory holding its files (for the ``with`` block)."""

    resolved: ResolvedModel
    path: Path

    @property
    def label(self) -> str:
        return self.resolved.label

    @property
    def downloaded(self) -> bool:
        """Whether ``path`` is a temporary registry download (gone after the block)."""
        return self.resolved.registry_version is not None


class ModelResolver:
    """Resolves and fetches references against one workspace and registry."""

    def __init__(self, ws: Any, tracking_uri: str | None = None) -> None:
        self.ws = ws
        self.tracking_uri = tracking_uri
        self._registry: MlflowRegistry | None = None

    @property
    def registry(self) -> MlflowRegistry:
        """The MLflow registry (imports mlflow on first use)."""
        if self._registry is None:
            from modelmill.registry.mlflow_registry import MlflowRegistry
            from modelmill.tracking.mlflow_tracker import quiet_mlflow

            quiet_mlflow()
            self._registry = MlflowRegistry.for_workspace(self.ws, self.tracking_uri)
        return self._registry

    def find(self, reference: str | Reference) -> ResolvedModel | None:
        """What ``reference`` names now; ``None`` when it names nothing (yet)."""
        try:
            return self.resolve(reference)
        except ArtifactNotFoundError:
            return None
        except UsageError:
            if _parsed(reference).kind == REGISTRY:  # no such model, alias or version
                return None
            raise

    def resolve(self, reference: str | Reference) -> ResolvedModel:
        """What ``reference`` names now, or an error naming the fix when it names nothing."""
        ref = _parsed(reference)
        if ref.kind == DIRECTORY:
            return ResolvedModel(ref, ref.name, None)
        if ref.kind == STORE:
            try:
                version = self.ws.store.resolve(ref.text)
            except ArtifactNotFoundError as exc:
                raise ArtifactNotFoundError(
                    f"no model '{ref.text}': {str(exc).rstrip('.')}; {FORMS}"
                ) from None
            return _stored(ref, version)
        try:
            found = self.registry.resolve(ref.text)
        except UsageError:
            raise UsageError(
                f"cannot resolve '{ref.text}': it is not in the registry {self.registry.tracking_uri} "
                "(no such model, alias or version); promote a model first "
                "(modelmill run, or modelmill promote MODEL:vN with MODEL the project's main.model_artifact) "
                "or pass --model NAME:vN / a model directory"
            ) from None
        return self._registered(ref, found)

    def older(self, resolved: ResolvedModel) -> list[ResolvedModel]:
        """The versions of the same registered model (or store artifact) older than
        ``resolved``, newest first: the candidates when it cannot be loaded."""
        ref, number = resolved.reference, resolved.version
        if number is None or ref.kind == DIRECTORY:
            return []
        if ref.kind == STORE:
            versions = [v for v in self.ws.store.versions(resolved.name) if v.version < number]
            return [_stored(parse_reference(v.ref, directories=False), v) for v in reversed(versions)]
        older = [v for v in self.registry.versions(resolved.name) if v.version < number]
        return [self._registered(parse_reference(v.uri), v) for v in reversed(older)]

    @contextlib.contextmanager
    def fetch(self, resolved: ResolvedModel) -> Iterator[Path]:
        """The verified local directory of ``resolved`` for the block; a registry download
        is removed when the block ends, however it ends."""
        if resolved.registry_version is None:
            # a store read is verified by the store (IntegrityError); a directory is the caller's
            yield (
                self.ws.store.path(resolved.store_version)
                if resolved.store_version
                else Path(resolved.reference.text)
            )
            return
        with tempfile.TemporaryDirectory(prefix="modelmill-model-") as tmp:
            yield self.registry.download_version(resolved.registry_version, Path(tmp))

    def _registered(self, ref: Reference, found: RegistryVersion) -> ResolvedModel:
        run_id = None
        if found.artifact:
            try:
                run_id = self.ws.store.resolve(found.artifact).run_id
            except ModelmillError:  # registered from another workspace's store
                run_id = None
        return ResolvedModel(ref, found.name, found.version, registry_version=found, training_run_id=run_id)


def _parsed(reference: str | Reference) -> Reference:
    return parse_reference(reference) if isinstance(reference, str) else reference


def _stored(ref: Reference, version: ArtifactVersion) -> ResolvedModel:
    return ResolvedModel(
        ref, version.name, version.version, store_version=version, training_run_id=version.run_id
    )


@contextlib.contextmanager
def open_model(reference: str, ws: Any, tracking_uri: str | None = None) -> Iterator[LocalModel]:
    """``with open_model("models:/my_model@prod", ws) as model: ...``: the model's verified
    files at ``model.path`` for the block (see the module docstring for the forms)."""
    resolver = ModelResolver(ws, tracking_uri)
    resolved = resolver.resolve(reference)
    with resolver.fetch(resolved) as path:
        yield LocalModel(resolved, path)
