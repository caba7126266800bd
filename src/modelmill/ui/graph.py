"""The lineage graph as inline SVG, laid out in layers by depth in the DAG.

Why our own layout: no Graphviz binary or JavaScript library is needed, and a lineage
graph is small and layered by nature (raw data, step, clean data, step, ... model), so
placing every node in the column of its longest path from a source reads like the
pipeline's own graph view. Within a column, nodes are ordered by the mean row of their
parents, which keeps most edges short and uncrossed.
"""

from __future__ import annotations

from collections import defaultdict

from modelmill.store.lineage import LineageGraph
from modelmill.ui.html import esc, url

NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 210, 44, 60, 18, 12


def depths(nodes: list[str], edges: set[tuple[str, str]]) -> dict[str, int]:
    """Longest-path depth of every node from a source (cycles cannot occur in lineage)."""
    parents: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        parents[b].append(a)
    memo: dict[str, int] = {}

    def depth(node: str, trail: frozenset[str]) -> int:
        if node not in memo:
            ups = [p for p in parents[node] if p not in trail]
            memo[node] = 1 + max((depth(p, trail | {node}) for p in ups), default=-1)
        return memo[node]

    return {n: depth(n, frozenset()) for n in nodes}


def layout(graph: LineageGraph) -> dict[str, tuple[float, float]]:
    """Top-left corner of every node: column by depth, row by the parents' mean row."""
    nodes = sorted(graph.nodes)
    level = depths(nodes, graph.edges)
    columns: dict[int, list[str]] = defaultdict(list)
    for n in nodes:
        columns[level[n]].append(n)
    row: dict[str, float] = {}
    for col in sorted(columns):
        members = columns[col]
        members.sort(key=lambda n: (_mean_parent_row(n, graph.edges, row), n))
        for i, n in enumerate(members):
            row[n] = i
    return {n: (PAD + level[n] * (NODE_W + COL_GAP), PAD + row[n] * (NODE_H + ROW_GAP)) for n in nodes}


def _mean_parent_row(node: str, edges: set[tuple[str, str]], row: dict[str, float]) -> float:
    ups = [row[a] for a, b in edges if b == node and a in row]
    return sum(ups) / len(ups) if ups else 0.0


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _node_href(node_id: str, attrs: dict[str, str]) -> str:
    if attrs["kind"] == "artifact":
        name, _, version = node_id.rpartition(":v")
        return url("artifacts", name, version)
    run = node_id.rpartition("@")[2]
    return url("runs", run) if run and run != "-" else "#"


def _node_svg(node_id: str, attrs: dict[str, str], x: float, y: float, root: str) -> str:
    is_artifact = attrs["kind"] == "artifact"
    label = node_id if is_artifact else node_id.partition("@")[0]
    sub = attrs.get("type", "") if is_artifact else f"run {node_id.rpartition('@')[2]}"
    if is_artifact and "[" in attrs["label"]:
        sub += " " + attrs["label"][attrs["label"].index("[") :]
    stroke = "#1f4fa3" if node_id == root else "#7a8499"
    width = 3 if node_id == root else 1.2
    cx, cy = x + NODE_W / 2, y + NODE_H / 2
    shape = (
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4" fill="#fff" '
        f'stroke="{stroke}" stroke-width="{width}"/>'
        if is_artifact
        else f'<ellipse cx="{cx}" cy="{cy}" rx="{NODE_W / 2}" ry="{NODE_H / 2}" fill="#eef0f4" '
        f'stroke="{stroke}" stroke-width="{width}"/>'
    )
    kind = "artifact" if is_artifact else "step"
    return (
        f'<a href="{esc(_node_href(node_id, attrs))}" class="node {kind}" data-node="{esc(node_id)}">'
        f"<title>{esc(attrs['label'])}</title>{shape}"
        f'<text x="{cx}" y="{y + 18}" text-anchor="middle" font-size="12" font-weight="600">'
        f"{esc(_short(label))}</text>"
        f'<text x="{cx}" y="{y + 34}" text-anchor="middle" font-size="10" fill="#5a6478">'
        f"{esc(_short(sub, 36))}</text></a>"
    )


def _edge_svg(a: tuple[float, float], b: tuple[float, float]) -> str:
    x1, y1 = a[0] + NODE_W, a[1] + NODE_H / 2
    x2, y2 = b[0], b[1] + NODE_H / 2
    mid = (x1 + x2) / 2
    return (
        f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 2},{y2}" fill="none" '
        'stroke="#9aa3b5" stroke-width="1.4" marker-end="url(#arrow)"/>'
    )


def lineage_svg(graph: LineageGraph) -> str:
    """An ``<svg>`` with one linked node per artifact version and step run, edges in data-flow order."""
    pos = layout(graph)
    if not pos:
        return '<p class="note">No lineage recorded.</p>'
    width = max(x for x, _ in pos.values()) + NODE_W + PAD
    height = max(y for _, y in pos.values()) + NODE_H + PAD
    edges = "".join(_edge_svg(pos[a], pos[b]) for a, b in sorted(graph.edges) if a in pos and b in pos)
    nodes = "".join(_node_svg(n, graph.nodes[n], *pos[n], graph.root) for n in sorted(graph.nodes))
    marker = (
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#9aa3b5"/></marker></defs>'
    )
    return (
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="lineage graph of {esc(graph.root)}">'
        f"{marker}{edges}{nodes}</svg>"
    )
