"""HTML building blocks: escaping, tables and the page shell.

Why f-strings and not templates: the pages are small, and keeping every value behind
:func:`esc` (or :func:`link`, which escapes too) is easy to review. Nothing is loaded
from outside the server: the CSS is inline, so the UI works on a closed network.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from urllib.parse import quote

CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#fff;text-decoration:none}header b{margin-right:1rem}
main{padding:1rem 1.2rem;max-width:1400px}
table{border-collapse:collapse;background:#fff;margin:.5rem 0 1.2rem;font-size:.9rem}
th,td{border:1px solid #d8dce3;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#eef0f4}th a{color:inherit}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.tag{display:inline-block;background:#e4ecfb;color:#1f4fa3;border-radius:3px;padding:0 .35rem;
 margin-right:.2rem;font-size:.8rem}
.tag.prod{background:#dff3e4;color:#1b6b34}
.s-ran{color:#1b6b34}.s-cached{color:#5a6478}.s-failed{color:#b3261e;font-weight:bold}
.s-skipped{color:#8a6d00}.s-success,.s-ok{color:#1b6b34}.s-running{color:#8a6d00}
.note{color:#5a6478;font-size:.85rem}.err{color:#b3261e}
svg a:hover rect,svg a:hover ellipse{stroke-width:3}
pre{background:#fff;border:1px solid #d8dce3;padding:.5rem;overflow:auto;max-height:24rem}
form.inline{display:inline}
.graph{overflow-x:auto;border:1px solid #d8dce3;background:#fbfcfd}
"""

NAV = (("/", "Artifacts"), ("/runs", "Runs"), ("/sweeps", "Sweeps"))


def esc(value: object) -> str:
    """Text made safe for HTML content and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def url(*parts: object, **query: object) -> str:
    """A path from segments, each percent-encoded (``/artifacts/a b/0`` -> ``/artifacts/a%20b/0``)."""
    path = "/" + "/".join(quote(str(p), safe="") for p in parts)
    if query:
        path += "?" + "&".join(f"{quote(k)}={quote(str(v), safe='')}" for k, v in query.items())
    return path


def link(href: str, text: object, **attrs: str) -> str:
    """An ``<a>`` element; ``attrs`` become extra attributes (``data_testid`` -> ``data-testid``)."""
    extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
    return f'<a href="{esc(href)}"{extra}>{esc(text)}</a>'


def tags(aliases: Iterable[str]) -> str:
    """Aliases as small labels; ``prod`` stands out."""
    return "".join(f'<span class="tag {esc(a)}">{esc(a)}</span>' for a in aliases)


def status(value: str) -> str:
    """A run or step status, coloured by its class."""
    return f'<span class="s-{esc(value)}">{esc(value)}</span>'


def when(timestamp: float | None) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS``."""
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def size(n: int) -> str:
    """Bytes in a human unit."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def number(value: object) -> str:
    """Metric values: floats to 4 significant digits, everything else as is."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return esc(value)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "", raw_headers: bool = False
) -> str:
    """A table whose cells are already-built HTML (escape values before passing them)."""
    head = "".join(f"<th>{h if raw_headers else esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(content: str) -> str:
    numeric = content.replace(".", "", 1).replace("-", "", 1).replace("e", "", 1).isdigit()
    return f'<td class="num">{content}</td>' if numeric else f"<td>{content}</td>"


def page(title: str, body: str, *, subtitle: str = "") -> str:
    """The whole document: header navigation, a heading and ``body`` (HTML)."""
    nav = "".join(link(href, text) for href, text in NAV)
    sub = f'<p class="note">{esc(subtitle)}</p>' if subtitle else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)} - modelmill</title><style>{CSS}</style></head><body>"
        f"<header><b>modelmill</b>{nav}</header><main><h1>{esc(title)}</h1>{sub}{body}</main></body></html>"
    )
