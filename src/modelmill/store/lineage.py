"""Lineage graphs: which step run produced a version from which input versions.

The graph has two kinds of node, artifact versions (``name:vN``) and step runs
(``step@run``), so it reads like the pipeline's own graph view: raw data, the step
that cleaned it, the clean data, and so on up to the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from modelmill.core.types import ArtifactVersion
from modelmill.store.store import ArtifactStore

Direction = Literal["up", "down", "both"]


@dataclass
class LineageGraph:
    """Nodes keyed by id with attributes, and directed edges (from, to) in data-flow order."""

    root: str
    direction: Direction = "up"
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)

    def to_json(self) -> str:
        """``{"root", "nodes": [...], "edges": [{"from", "to"}]}``."""
        return json.dumps(
            {
                "root": self.root,
                "nodes": [{"id": k, **v} for k, v in sorted(self.nodes.items())],
                "edges": [{"from": a, "to": b} for a, b in sorted(self.edges)],
            },
            indent=2,
        )

    def to_dot(self) -> str:
        """Graphviz source: boxes for artifacts, ellipses for step runs."""
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for node_id, attrs in sorted(self.nodes.items()):
            shape = "box" if attrs["kind"] == "artifact" else "ellipse"
            label = attrs["label"].replace('"', r"\"")
            lines.append(f'  "{node_id}" [shape={shape}, label="{label}"];')
        lines += [f'  "{a}" -> "{b}";' for a, b in sorted(self.edges)]
        lines.append("}")
        return "\n".join(lines)

    def to_text(self) -> str:
        """Indented trees from the root: upstream (what it was made from), then downstream."""
        parts = []
        if self.direction in ("up", "both"):
            parts.append("upstream:\n" + "\n".join(self._text_lines(self.root, "  ", set(), True)))
        if self.direction in ("down", "both"):
            parts.append("downstream:\n" + "\n".join(self._text_lines(self.root, "  ", set(), False)))
        return "\n".join(parts)

    def _text_lines(self, node: str, indent: str, seen: set[str], up: bool) -> Iterator[str]:
        label = self.nodes[node]["label"]
        if not up and label.startswith("<- "):
            label = "-> " + label[3:]
        yield f"{indent}{label}"
        if node in seen:
            return
        seen = seen | {node}
        nxt = (
            sorted(a for a, b in self.edges if b == node)
            if up
            else sorted(b for a, b in self.edges if a == node)
        )
        for other in nxt:
            yield from self._text_lines(other, indent + "  ", seen, up)


def _step_node(version: ArtifactVersion) -> str | None:
    if not version.step and not version.run_id:
        return None
    return f"{version.step or 'put'}@{version.run_id or '-'}"


def _add_version(graph: LineageGraph, v: ArtifactVersion) -> None:
    aliases = f" [{', '.join(v.aliases)}]" if v.aliases else ""
    graph.nodes[v.ref] = {
        "kind": "artifact",
        "type": v.type,
        "label": f"{v.ref} ({v.type}){aliases}",
    }


def _add_producer(graph: LineageGraph, v: ArtifactVersion) -> str | None:
    step = _step_node(v)
    if step is not None:
        run = v.run_id or "-"
        graph.nodes[step] = {"kind": "step", "label": f"<- {v.step or 'put'} (run {run})"}
        graph.edges.add((step, v.ref))
    return step


def build_lineage(store: ArtifactStore, ref: str, direction: Direction = "up") -> LineageGraph:
    """Walk the lineage edges from ``ref`` upstream, downstream or both."""
    root = store.resolve(ref)
    graph = LineageGraph(root=root.ref, direction=direction)
    everything = {v.ref: v for v in store.versions()}
    _add_version(graph, root)
    if direction in ("up", "both"):
        _walk_up(graph, root, everything)
    if direction in ("down", "both"):
        _walk_down(graph, root, everything)
    return graph


def _walk_up(graph: LineageGraph, v: ArtifactVersion, all_v: dict[str, ArtifactVersion]) -> None:
    step = _add_producer(graph, v)
    for input_ref in v.inputs:
        parent = all_v[input_ref]
        known = parent.ref in graph.nodes
        _add_version(graph, parent)
        graph.edges.add((parent.ref, step or v.ref))
        if not known:
            _walk_up(graph, parent, all_v)


def _walk_down(graph: LineageGraph, v: ArtifactVersion, all_v: dict[str, ArtifactVersion]) -> None:
    for child in all_v.values():
        if v.ref not in child.inputs:
            continue
        known = child.ref in graph.nodes
        _add_version(graph, child)
        step = _add_producer(graph, child)
        graph.edges.add((v.ref, step or child.ref))
        if not known:
            _walk_down(graph, child, all_v)
