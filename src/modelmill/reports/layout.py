"""The page shell every report shares: inline CSS, tables, value formatting, :class:`Report`.

One look for the EDA profile, the data check, the training and the evaluation reports. Pages
have no scripts, no external resources and no timestamps: equal inputs give byte-equal HTML,
so a report stored by a pipeline step keeps the step's outputs (and downstream cache) stable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2328;max-width:80rem}
h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.15rem;margin-top:2rem}
h3{font-size:1rem;margin:.8rem 0 .2rem}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;font-weight:600;font-size:.85rem}
.pass{background:#dafbe1;color:#116329}.fail{background:#ffebe9;color:#a40e26}
.warn{background:#fff8c5;color:#7d4e00}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr.failed td{background:#fff8f7}
code,.num{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
details{margin-top:.3rem}summary{cursor:pointer;color:#0969da}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
.grid{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #d0d7de;border-radius:.4rem;padding:.5rem}
.card h3{margin-top:0}.scroll{overflow-x:auto}
ul.warnings li{margin:.15rem 0}.muted{color:#59636e;font-size:.85rem}
svg text{font-family:system-ui,sans-serif}
"""


def fmt(value: Any) -> str:
    """A short, stable text form: integers without ``.0``, floats to 4 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """An HTML table of records; columns default to every key in first-seen order."""
    if columns is None:
        columns = []
        for row in rows:
            columns += [c for c in row if c not in columns]
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td class=num>{escape(fmt(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def scroll(html: str) -> str:
    """Let a wide table scroll sideways instead of widening the page."""
    return f'<div class="scroll">{html}</div>'


def definition_list(items: Mapping[str, Any]) -> str:
    """``<dl>`` of key/value pairs, values as code."""
    dl = "".join(f"<dt>{escape(str(k))}</dt><dd><code>{escape(fmt(v))}</code></dd>" for k, v in items.items())
    return f"<dl>{dl}</dl>"


def badge(ok: bool, yes: str = "PASSED", no: str = "FAILED") -> str:
    """A green or red pill."""
    return f'<span class="badge {"pass" if ok else "fail"}">{escape(yes if ok else no)}</span>'


def bullet_list(lines: Iterable[str], css_class: str = "") -> str:
    """``<ul>`` of escaped lines ('' when there are none)."""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    cls = f' class="{css_class}"' if css_class else ""
    return f"<ul{cls}>{items}</ul>" if items else ""


def card(title: str, body: str) -> str:
    """A bordered box with a heading (one chart and its caption)."""
    return f'<div class="card"><h3>{escape(title)}</h3>{body}</div>'


def section(title: str, body: str, anchor: str | None = None) -> str:
    """An ``<h2>`` section; ``body`` is trusted HTML built by these helpers."""
    ident = f' id="{escape(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{escape(title)}</h2>\n{body}\n</section>\n"


def page(title: str, body: str, heading: str | None = None) -> str:
    """The whole standalone document; ``heading`` is trusted HTML (defaults to the escaped title)."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body>
<h1>{heading if heading is not None else escape(title)}</h1>
{body}
</body></html>
"""


@dataclass(frozen=True)
class Report:
    """A finished report: the HTML page plus the warnings it raised (for CLIs and steps)."""

    title: str
    html: str
    warnings: tuple[str, ...] = field(default=())

    def save(self, path: str | Path) -> Path:
        """Write the page (parent directories created); return the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.html, encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        """Jupyter shows the page in an iframe, so its CSS cannot restyle the notebook."""
        return (
            f'<iframe srcdoc="{escape(self.html, quote=True)}" title="{escape(self.title)}" '
            'style="width:100%;height:40rem;border:1px solid #d0d7de"></iframe>'
        )

    def __str__(self) -> str:
        return self.html
