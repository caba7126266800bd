"""Our side of the MLflow model registry: one registered model, versions tagged with artifact refs.

Where a model version's files live (its ``source``): the exported model directory is
logged as the artifacts of a small "register" run (``client.log_artifacts(run, dir,
"model")``) and the version is created from ``runs:/<run_id>/model``. The registry thus
holds its own copy under the MLflow artifact root (``<workspace>/mlartifacts`` for a local
store), so ``mlflow.pyfunc.load_model("models:/NAME@prod")`` works from any process
and directory that sets ``MLFLOW_TRACKING_URI``, works the same against a remote tracking
server, and never depends on the layout of modelmill's blob directory. Registering the
blob's absolute path would avoid the copy, but only for clients on this machine.

Every version carries the tags ``modelmill.artifact`` (``model_export:v3``) and
``modelmill.digest`` (the store's directory digest); :meth:`MlflowRegistry.register` reuses
the version that already has both and whose copy still hashes to the digest, so registering
is idempotent and re-registering repairs a damaged copy. Every download is verified against
the digest (:func:`modelmill.registry.checks.verify_copy`). ``import mlflow`` costs ~3 s: it
happens on first use.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmill.core.errors import IntegrityError, ModelmillError, UsageError
from modelmill.tracking.mlflow_tracker import ensure_experiment, quiet_mlflow
from modelmill.tracking.sqlite_seed import seed_sqlite

if TYPE_CHECKING:
    from modelmill.core.types import ArtifactVersion
    from modelmill.store.workspace import Workspace

ARTIFACT_TAG = "modelmill.artifact"
DIGEST_TAG = "modelmill.digest"
PROD = "prod"
CHALLENGER = "challenger"  # the alias a rollout serves next to prod (modelmill.serve.rollout)
ROLLBACK_TAG = "modelmill.rollback"  # set on a version a service rolled back: why
DEFAULT_EXPERIMENT = "development"
MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LOCAL_SCHEMES = ("sqlite:", "file:", "mysql", "postgresql", "mssql")
log = logging.getLogger("modelmill.registry")


class RegistryError(ModelmillError):
    """The MLflow registry refused or failed an operation."""


@dataclass(frozen=True)
class RegistryVersion:
    """One model version in the MLflow registry, as modelmill sees it."""

    name: str
    version: int
    source: str
    run_id: str | None
    artifact: str | None
    digest: str | None
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict, compare=False)  # e.g. modelmill.rollback

    @property
    def uri(self) -> str:
        """``models:/NAME/N``: loads exactly this version."""
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "aliases": list(self.aliases), "uri": self.uri}


def validate_model_name(name: str) -> str:
    """Registered model names are used in filter strings and URIs: keep them plain."""
    if not isinstance(name, str) or not MODEL_NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid registered model name {name!r}: expected letters, digits, '.', '_' or '-' "
            "(for example the dataset name)"
        )
    return name


class MlflowRegistry:
    """Adapter over ``MlflowClient`` for the operations modelmill needs."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        artifact_root: Path | None = None,
        experiment: str = DEFAULT_EXPERIMENT,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.experiment = experiment
        self._client: Any = None

    @classmethod
    def for_workspace(
        cls, ws: Workspace, tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT
    ) -> MlflowRegistry:
        """The workspace's SQLite registry unless ``tracking_uri`` names another store."""
        uri = tracking_uri or ws.default_tracking_uri
        local = uri.startswith(_LOCAL_SCHEMES) or "://" not in uri
        return cls(uri, artifact_root=ws.mlflow_artifact_root if local else None, experiment=experiment)

    @property
    def client(self) -> Any:
        """The ``MlflowClient`` (imports mlflow on first use)."""
        if self._client is None:
            from mlflow.tracking import MlflowClient

            quiet_mlflow()
            seed_sqlite(self.tracking_uri, self.artifact_root)
            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def model_uri(self, name: str, alias: str = PROD) -> str:
        """``models:/NAME@ALIAS``."""
        return f"models:/{name}@{alias}"

    # ------------------------------------------------------------------ reading
    def find_version(self, name: str, artifact_ref: str, digest: str | None = None) -> RegistryVersion | None:
        """The newest ready version registered from ``artifact_ref`` (and ``digest``, if given)."""
        validate_model_name(name)
        if not self._model_exists(name):
            return None
        found = self.client.search_model_versions(
            f"name = '{name}' and tags.`{ARTIFACT_TAG}` = '{artifact_ref}'"
        )
        matches = [
            mv
            for mv in found
            if str(mv.status) == "READY" and (digest is None or mv.tags.get(DIGEST_TAG) == digest)
        ]
        if not matches:
            return None
        return self._convert(max(matches, key=lambda mv: int(mv.version)))

    def get_version(self, name: str, version: int | str) -> RegistryVersion:
        """One version by number."""
        return self._convert(self.client.get_model_version(name, str(version)))

    def get_alias(self, name: str, alias: str = PROD) -> RegistryVersion | None:
        """The version ``name@alias`` points to, or ``None`` (no such model or alias)."""
        from mlflow.exceptions import MlflowException

        validate_model_name(name)
        if not self._model_exists(name):
            return None
        try:
            return self._convert(self.client.get_model_version_by_alias(name, alias))
        except MlflowException:
            return None

    def resolve(self, uri: str) -> RegistryVersion:
        """The version behind ``models:/NAME@ALIAS`` or ``models:/NAME/N``; a :class:`UsageError`
        when the URI or the version does not exist."""
        match = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))", uri)
        if match is None:
            raise UsageError(f"'{uri}': expected models:/NAME@ALIAS or models:/NAME/VERSION")
        name, alias, number = match.groups()
        found = self.get_alias(name, alias) if alias else self._get_or_none(name, number)
        if found is None:
            raise UsageError(
                f"'{uri}' is not in the registry {self.tracking_uri}: no such model, alias or version"
            )
        return found

    def versions(self, name: str) -> list[RegistryVersion]:
        """Every ready version of ``name``, oldest first (none when the model does not exist)."""
        validate_model_name(name)
        if not self._model_exists(name):
            return []
        found = [
            mv for mv in self.client.search_model_versions(f"name = '{name}'") if str(mv.status) == "READY"
        ]
        return sorted((self._convert(mv) for mv in found), key=lambda rv: rv.version)

    def download(self, uri: str, dest: Path) -> Path:
        """The verified model directory behind ``models:/NAME@ALIAS`` or ``models:/NAME/N``
        (see :meth:`resolve` and :meth:`download_version`)."""
        return self.download_version(self.resolve(uri), dest)

    def download_version(self, version: RegistryVersion, dest: Path) -> Path:
        """``version``'s files, fetched into ``dest`` through this registry's own client (MLflow's
        process-wide URIs stay untouched) and checked against its ``modelmill.digest`` tag: an
        :class:`IntegrityError` when they differ, a warning when the tag is missing."""
        import mlflow.artifacts

        from modelmill.registry.checks import verify_copy

        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=version.source, dst_path=str(dest), tracking_uri=self.tracking_uri
            )
        )
        verify_copy(local, version.digest, version.uri, version.artifact)
        return local

    def _get_or_none(self, name: str, number: str) -> RegistryVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.get_version(name, number)
        except MlflowException:
            return None

    # ------------------------------------------------------------------ writing
    def ensure_model(self, name: str, description: str = "") -> None:
        """Create the registered model unless it exists (safe against a concurrent creator)."""
        from mlflow.exceptions import MlflowException

        validate_model_name(name)
        if self._model_exists(name):
            return
        try:
            self.client.create_registered_model(name, description=description or None)
        except MlflowException:
            if not self._model_exists(name):
                raise

    def register(
        self,
        name: str,
        artifact: ArtifactVersion,
        model_dir: Path,
        *,
        tags: Mapping[str, Any] | None = None,
        run_tags: Mapping[str, str] | None = None,
    ) -> tuple[RegistryVersion, bool]:
        """A version of ``name`` for the stored model ``artifact``: ``(version, created)``.

        Reuses the version already registered from the same artifact ref and digest (unless
        its copy no longer matches the digest: a damaged copy is never reused); otherwise
        logs ``model_dir`` as the artifacts of a new run and creates the version from
        ``runs:/<run_id>/model``.
        """
        if not (Path(model_dir) / "MLmodel").is_file():
            raise UsageError(
                f"'{artifact.ref}' is not an MLflow model directory (no MLmodel file); "
                "export it with mlflow.sklearn.save_model"
            )
        existing = self.find_version(name, artifact.ref, artifact.digest)
        if existing is not None and self._intact(existing):
            return existing, False
        self.ensure_model(name)
        client = self.client
        run = client.create_run(
            self._experiment_id(),
            run_name=f"register {artifact.ref}",
            tags={
                "modelmill.kind": "registration",
                ARTIFACT_TAG: artifact.ref,
                DIGEST_TAG: artifact.digest,
                **dict(run_tags or {}),
            },
        )
        run_id = str(run.info.run_id)
        try:
            client.log_artifacts(run_id, str(model_dir), "model")
            mv = client.create_model_version(
                name,
                f"runs:/{run_id}/model",
                run_id=run_id,
                tags={
                    ARTIFACT_TAG: artifact.ref,
                    DIGEST_TAG: artifact.digest,
                    **{k: str(v) for k, v in (tags or {}).items()},
                },
                description=f"modelmill artifact {artifact.ref} (sha256:{artifact.digest[:12]})",
            )
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")
        return self._convert(mv), True

    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``name@alias`` at ``version``."""
        self.client.set_registered_model_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``name@alias`` (the versions stay)."""
        self.client.delete_registered_model_alias(name, alias)

    def set_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Tag one model version."""
        self.client.set_model_version_tag(name, str(version), key, value)

    def delete_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove a tag of one model version (nothing if it has none)."""
        if key in self.get_version(name, version).tags:
            self.client.delete_model_version_tag(name, str(version), key)

    # ------------------------------------------------------------------ helpers
    def _intact(self, version: RegistryVersion) -> bool:
        """Whether the registry's copy of ``version`` is still there and hashes to its digest."""
        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory(prefix="modelmill-registry-check-") as tmp:
            try:
                self.download_version(version, Path(tmp))
            except (IntegrityError, MlflowException, OSError) as exc:
                log.warning("warning: %s; registering a fresh copy", str(exc).split("; ")[0])
                return False
        return True

    def _model_exists(self, name: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise RegistryError(f"model registry at {self.tracking_uri}: {exc}") from exc
        return True

    def _experiment_id(self) -> str:
        return ensure_experiment(self.client, self.experiment, self.artifact_root)

    @staticmethod
    def _convert(mv: Any) -> RegistryVersion:
        tags = dict(mv.tags or {})
        return RegistryVersion(
            name=str(mv.name),
            version=int(mv.version),
            source=str(mv.source),
            run_id=mv.run_id or None,
            artifact=tags.get(ARTIFACT_TAG),
            digest=tags.get(DIGEST_TAG),
            aliases=tuple(getattr(mv, "aliases", None) or ()),
            tags=tags,
        )
