"""Write a :class:`~modelmill.datasets.draft.DraftSpec` as the commented YAML a person edits.

One line per column, in the table's order, as a flow mapping with the reason as a comment::

    Origin: {role: categorical}  # categorical: 3 distinct values in 406 rows

so the whole table fits on a screen and every inferred choice says why. PyYAML renders each
value (it quotes what needs quoting); the comments are ours. The text is checked to load back
to the same data before anyone writes it (:func:`render_spec`).
"""

from __future__ import annotations

from typing import Any

import yaml

from modelmill.datasets.draft import DraftSpec

HEADER = """\
# @package dataset
# The dataset spec of {name}, inferred by `modelmill init` from {source}.
# Every stage is generated from this file: cleaning, the data tests, the model's features, the
# serving schema, drift monitoring and the reports. It is meant to be edited: each column's
# comment says why it got its role. Roles: numeric, count, categorical, ordinal (with order:
# [low, ..., high]), boolean, date (with format:), text, ignore (not used). Other keys: nullable,
# parse (number, currency, percent, boolean), range: [low, high], allowed: [...] or reference,
# impute, encode (onehot, ordinal, native), drift (false: no distribution test). After an edit,
# `modelmill run` re-runs what depends on it.
"""


def _flow(mapping: dict[str, Any]) -> str:
    """``key: {a: 1, b: x}`` on one line (PyYAML quotes what YAML would misread)."""
    text = yaml.safe_dump(
        mapping, default_flow_style=True, sort_keys=False, width=1 << 20, allow_unicode=True
    )
    return text.strip()[1:-1]  # the outer braces of the one-key mapping


def _scalar(key: str, value: Any) -> str:
    return _flow({key: value})


def render_spec(draft: DraftSpec, source: str) -> str:
    """The YAML text of ``draft``; ``source`` says where the table came from (for the header)."""
    data = draft.as_dict()
    group_hint = f"; {draft.hints['group']}" if "group" in draft.hints else ""
    split_hint = f". {draft.hints['split']}" if "split" in draft.hints else ""
    rows = f"the first {draft.rows:,} rows" if draft.truncated else f"its {draft.rows:,} rows"
    lines = [HEADER.format(name=draft.name, source=f"{source} ({rows})").rstrip("\n")]
    lines += [_scalar("name", data["name"]), "", f"# {draft.task_reason}", _scalar("task", data["task"]),
              _scalar("target", data["target"])]  # fmt: skip
    lines += [
        "# the id column names each row in `modelmill score` output (null: rows are numbered instead)",
        _scalar("id", data["id"]),
        "# the column whose values slice the reports' metrics" + group_hint,
        _scalar("group", data["group"]),
        "",
        "columns:",
    ]
    for guess in draft.columns:
        lines.append(f"  {_flow({guess.name: dict(guess.entry)})}  # {guess.reason}")
    lines += [
        "",
        "cleaning:",
        "  # rows whose values do not parse (or miss where they may not) beyond this share stop the run",
        f"  {_scalar('max_invalid_share', data['cleaning']['max_invalid_share'])}",
        "  # columns the spec does not declare: allow (left out of the model) or error",
        f"  {_scalar('extra_columns', data['cleaning']['extra_columns'])}",
        "",
        "split:",
        "  # random (stratified by the target for classification); time: test on the latest dates of",
        "  # 'column'; group: no value of 'column' on both sides" + split_hint,
    ]
    lines += [f"  {_scalar(k, v)}" for k, v in data["split"].items()]
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != data:
        raise RuntimeError(
            f"the spec written for {draft.name} does not read back as inferred"
        )  # a bug of ours
    return text
