"""Applying a step's alias effects: through their ``via`` function, and again on a cache hit.

The executor stores outputs and records effects (:mod:`modelmill.runner.effects`); this
module moves aliases that live outside the store too (an effect's ``via``, e.g. the MLflow
registry's ``prod`` alias) and replays the recorded effects of a cached execution, so a
cached run leaves every alias where a real run would have.
"""

from __future__ import annotations

from typing import Any

from modelmill.core.errors import ModelmillError
from modelmill.runner.cache import Execution
from modelmill.runner.effects import Effect, EffectLog, load_via
from modelmill.runner.step import Step
from modelmill.store.store import AliasMove, MovedAlias
from modelmill.store.workspace import Workspace


class EffectReplayer:
    """Moves the aliases of one workspace's step effects."""

    def __init__(self, workspace: Workspace, effects: EffectLog) -> None:
        self.ws = workspace
        self.store = workspace.store
        self.effects = effects

    def replay(self, s: Step, hit: Execution, run_id: str) -> None:
        """Leave the aliases where the cached execution's effects left them.

        An alias already there is not touched (a cached run writes nothing for it); one that
        is elsewhere is moved back, through the effect's ``via`` function when it has one (it
        moves what else must follow, e.g. the MLflow registry's alias), and the move is
        recorded as a replay of the same effect.
        """
        for recorded in self.effects.of_execution(hit.id):
            alias_ref = f"{recorded.name}:{recorded.alias}"
            if self.store.exists(alias_ref) and self.store.resolve(alias_ref).ref == recorded.ref:
                continue
            effect = Effect(recorded.ref, recorded.alias, recorded.note, recorded.via)
            note = f"replayed by run {run_id} (cached {s.name} of run {hit.run_id}): {recorded.note}"
            since = self.store.alias_watermark()
            if effect.via is not None:
                self.call_via(s, effect, note)

            def link(conn: Any, _: list[str], moved: list[MovedAlias], effect: Effect = effect) -> None:
                EffectLog.insert(conn, hit.id, run_id, s.name, [effect], moved, replay=True)

            self.store.put_many([], aliases=[AliasMove(recorded.ref, recorded.alias, note, since)], then=link)

    def apply_via(self, s: Step, effects: list[Effect]) -> None:
        """Move, through its ``via`` function, each effect that has one and is not in place yet
        (the store's transaction then records the move; it never moves such an alias alone)."""
        for effect in effects:
            if effect.via is not None and not self._points_at(effect):
                self.call_via(s, effect, effect.note)

    def call_via(self, s: Step, effect: Effect, note: str) -> None:
        """Move an effect's alias through its ``via`` function (which moves what must follow it)."""
        try:
            load_via(str(effect.via))(self.ws, effect.target, effect.alias, note, dict(s.params))
        except ModelmillError:
            raise
        except Exception as exc:
            raise ModelmillError(
                f"step '{s.name}': moving {effect.name}:{effect.alias} to {effect.target} through "
                f"{effect.via} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _points_at(self, effect: Effect) -> bool:
        ref = f"{effect.name}:{effect.alias}"
        return self.store.exists(ref) and self.store.resolve(ref).ref == effect.target
