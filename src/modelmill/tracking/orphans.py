"""Close MLflow runs nobody will close: those of a dead process, and our own on an interrupt.

Runs carry their owner's tags (:mod:`modelmill.tracking.liveness`). A run without them
(the registry's registration run) belongs to the pipeline run named by its
``modelmill.run_id`` tag, whose parent run has them. Both functions are best-effort: a
tracking store that fails here must not turn a successful command into a failed one.
"""

from __future__ import annotations

import logging
from typing import Any

from modelmill.tracking.liveness import HOST_TAG, PID_TAG, Owner, current

logger = logging.getLogger(__name__)

RUN_ID_TAG = "modelmill.run_id"
ERROR_TAG = "modelmill.error"
_RUNNING = "attributes.status = 'RUNNING'"


def _running(client: Any, experiment_id: str, extra: str = "") -> list[Any]:
    return list(client.search_runs([experiment_id], _RUNNING + extra, max_results=5000))


def close_orphans(client: Any, experiment_id: str) -> list[str]:
    """Mark ``FAILED`` every running run of ``experiment_id`` whose owner process is dead."""
    try:
        runs = _running(client, experiment_id)
        owners = {
            r.data.tags[RUN_ID_TAG]: o
            for r in runs
            if RUN_ID_TAG in r.data.tags and (o := Owner.from_tags(r.data.tags)) is not None
        }
        closed = []
        for r in runs:
            owner = Owner.from_tags(r.data.tags) or owners.get(r.data.tags.get(RUN_ID_TAG, ""))
            if owner is not None and owner.is_dead():
                message = f"process {owner.pid} on {owner.host} died before ending this run (killed?)"
                client.set_tag(r.info.run_id, ERROR_TAG, message)
                client.set_terminated(r.info.run_id, "FAILED")
                closed.append(str(r.info.run_id))
        return closed
    except Exception as exc:
        logger.warning("could not close the runs of dead processes: %s", exc)
        return []


def close_own(client: Any, experiment_id: str, status: str = "KILLED") -> list[str]:
    """End every run this process still has open in ``experiment_id`` (after an interrupt)."""
    me = current()
    try:
        runs = _running(client, experiment_id, f" and tags.`{HOST_TAG}` = '{me.host}' and "
                                               f"tags.`{PID_TAG}` = '{me.pid}'")  # fmt: skip
        for r in runs:
            client.set_terminated(r.info.run_id, status)
        return [str(r.info.run_id) for r in runs]
    except Exception as exc:
        logger.warning("could not end this process's runs: %s", exc)
        return []
