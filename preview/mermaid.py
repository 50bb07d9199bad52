"""A preview as Mermaid flowcharts that GitHub renders in a comment: the component graph and the stacks' fan-in.

`render_graph` draws a stack's top-level components as nodes (stack-level resources as one more node), each with
its changed resources counted by step and, while there is room, named; an arrow goes from a component to each
component with a resource that depends on one of its resources (the resources' dependencies collapsed to component
level, the number of dependencies on the arrow when there is more than one). `render_stack_graph` draws the stacks
and their StackReferences: an arrow from a stack to each stack that reads its outputs (the global stack's fan-in
over the hubs).

GitHub renders at most 500 edges and 50,000 characters of Mermaid (`maxEdges`, `maxTextSize`; a diagram cannot
raise them). A graph over either is made smaller one step at a time until it fits, each step said in a `%%`
comment: unchanged components left out, then the resource names in the labels, then components of one type (or
stacks with the same references) merged into one node, then the least important edges left out, and last the
least important nodes. The output depends only on the digest: nodes and edges are sorted, never hashed.

The text returned is the diagram itself; in markdown it goes inside a ```` ```mermaid ```` fence (`fenced`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from preview.markdown import OPS, STACK_TYPE, changes, component_resolver, component_title, largest, urn_type

MAX_EDGES = 500
"""Mermaid's `maxEdges` in GitHub."""
MAX_TEXT = 50_000
"""Mermaid's `maxTextSize` in GitHub (characters of the diagram's text)."""
NAMES_PER_NODE = 5
"""Changed resources named in a node's label (the rest counted)."""

# How much a node matters when something must go: a delete or replace first, unchanged last.
RANK = {"delete": 4, "replace": 3, "create": 2, "update": 1, "same": 0}
STYLES = {
    "create": "fill:#e6ffed,stroke:#2da44e",
    "update": "fill:#fff8c5,stroke:#bf8700",
    "replace": "fill:#ffebe9,stroke:#cf222e,stroke-width:2px",
    "delete": "fill:#ffebe9,stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 3",
    "same": "fill:#f6f8fa,stroke:#8c959f",
    "stack": "fill:#ddf4ff,stroke:#0969da",
    "fanin": "fill:#ddf4ff,stroke:#0969da,stroke-width:3px",
}
# Mermaid's entity codes (`#<number>;`): a label is quoted, so only what ends a quote, starts an entity or is
# HTML needs one; a newline would end the statement.
_ESCAPES = {c: f"#{ord(c)};" for c in '"#&<>`%'} | {"\n": " ", "\r": " "}
_VERBS = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete"}


def escape(label: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return "".join(_ESCAPES.get(c, c) for c in label)


def _comment(text: str) -> str:
    return "    %% " + " ".join(text.split())


def fenced(diagram: str) -> str:
    """The diagram as a markdown code block GitHub renders."""
    return f"```mermaid\n{diagram}\n```"


@dataclass
class _Node:
    title: str
    counts: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    kind: str = ""
    """The style: the node's most serious step, "same", or a stack style."""
    members: int = 1

    @property
    def rank(self) -> int:
        return max((RANK[op] for op, n in self.counts.items() if n), default=0)

    @property
    def changed(self) -> bool:
        return any(self.counts.values())

    def label(self, *, names: bool) -> str:
        lines = [escape(self.title)]
        counted = ", ".join(f"{n:,} {_VERBS[op]}" for op in OPS if (n := self.counts.get(op, 0)))
        if counted:
            lines.append(escape(counted))
        if names and self.names:
            shown = ", ".join(self.names[:NAMES_PER_NODE])
            rest = len(self.names) - NAMES_PER_NODE
            lines.append(escape(shown + (f" and {rest:,} more" if rest > 0 else "")))
        return "<br/>".join(lines)

    def style(self) -> str:
        if self.kind:
            return self.kind
        return max((op for op, n in self.counts.items() if n), key=RANK.__getitem__, default="same")


@dataclass
class _Graph:
    header: str
    nodes: dict[str, _Node]
    edges: dict[tuple[str, str], int]
    notes: list[str] = field(default_factory=list)
    names: bool = True

    def text(self) -> str:
        keys = sorted(self.nodes)
        ids = {key: f"n{i}" for i, key in enumerate(keys)}
        lines = ["flowchart LR", _comment(self.header)]
        lines += [_comment(f"left out to fit GitHub's Mermaid limits: {note}") for note in self.notes]
        lines += [f'    {ids[key]}["{self.nodes[key].label(names=self.names)}"]' for key in keys]
        order = {key: i for i, key in enumerate(keys)}
        for (source, target), weight in sorted(self.edges.items(), key=lambda e: (order[e[0][0]], order[e[0][1]])):
            link = f"-->|{weight:,}|" if weight > 1 else "-->"
            lines.append(f"    {ids[source]} {link} {ids[target]}")
        styles: dict[str, list[str]] = {}
        for key in keys:
            styles.setdefault(self.nodes[key].style(), []).append(ids[key])
        for style in sorted(styles):
            lines.append(f"    classDef {style} {STYLES[style]}")
            lines.append(f"    class {','.join(styles[style])} {style}")
        return "\n".join(lines)

    def fits(self) -> bool:
        return len(self.edges) <= MAX_EDGES and len(self.text()) <= MAX_TEXT

    def without(self, keys: set[str]) -> _Graph:
        nodes = {k: n for k, n in self.nodes.items() if k not in keys}
        edges = {e: w for e, w in self.edges.items() if e[0] in nodes and e[1] in nodes}
        return replace(self, nodes=nodes, edges=edges, notes=list(self.notes))

    def merged(self, group: Callable[[str], str], title: Callable[[str, list[str]], str]) -> _Graph:
        """Nodes with the same group key as one node (counts and names added up, edges between groups)."""
        members: dict[str, list[str]] = {}
        for key in sorted(self.nodes):
            members.setdefault(group(key), []).append(key)
        nodes: dict[str, _Node] = {}
        for new_key, keys in members.items():
            if len(keys) == 1:
                nodes[new_key] = self.nodes[keys[0]]
                continue
            node = _Node(title(new_key, keys), members=sum(self.nodes[k].members for k in keys))
            kinds = {self.nodes[k].kind for k in keys}
            node.kind = kinds.pop() if len(kinds) == 1 else ""
            for key in keys:
                for op, n in self.nodes[key].counts.items():
                    node.counts[op] = node.counts.get(op, 0) + n
                node.names += self.nodes[key].names
            nodes[new_key] = node
        edges: dict[tuple[str, str], int] = {}
        for (source, target), weight in self.edges.items():
            pair = (group(source), group(target))
            if pair[0] != pair[1]:
                edges[pair] = edges.get(pair, 0) + weight
        return replace(self, nodes=nodes, edges=edges, notes=list(self.notes))


def _importance(graph: _Graph) -> Callable[[tuple[str, str]], tuple[int, int, str, str]]:
    def key(edge: tuple[str, str]) -> tuple[int, int, str, str]:
        rank = max(graph.nodes[edge[0]].rank, graph.nodes[edge[1]].rank)
        return (-rank, -graph.edges[edge], edge[0], edge[1])

    return key


def _cut(graph: _Graph) -> _Graph:
    """The last steps: at most MAX_EDGES edges, the most important; then, if the text is still too long, fewer
    edges when the nodes alone fit, else fewer nodes (unchanged and least changed first) with the most important
    edges among those kept."""
    if graph.fits():
        return graph
    important = _importance(graph)
    ranked = sorted(graph.nodes, key=lambda k: (-graph.nodes[k].rank, -sum(graph.nodes[k].counts.values()), k))
    total_edges, total_nodes = len(graph.edges), len(graph.nodes)

    def kept(nodes: int, edges: int) -> _Graph:
        result = graph.without(set(ranked[nodes:]))
        order = sorted(result.edges, key=important)[:edges]
        result.edges = {e: result.edges[e] for e in order}
        if len(result.edges) < total_edges:
            result.notes.append(f"{total_edges - len(result.edges):,} of {total_edges:,} edges (the least important)")
        if nodes < total_nodes:
            result.notes.append(f"{total_nodes - nodes:,} of {total_nodes:,} nodes (unchanged and least changed first)")
        return result

    if kept(total_nodes, 0).fits():
        return kept(total_nodes, largest(min(total_edges, MAX_EDGES), lambda n: kept(total_nodes, n).fits()))
    nodes = largest(total_nodes, lambda n: kept(n, MAX_EDGES).fits())
    return kept(nodes, MAX_EDGES) if kept(nodes, MAX_EDGES).fits() else kept(nodes, 0)


# --- the component graph ------------------------------------------------------------------------------------


def _component_graph(digest: Mapping[str, Any], *, changed_only: bool) -> _Graph:
    resolve = component_resolver(digest)
    extra: Mapping[str, Any] = digest.get("stackhubHa") or {}
    stack = str(extra.get("stack") or "")
    nodes: dict[str, _Node] = {}

    def node(key: str) -> _Node:
        if key not in nodes:
            nodes[key] = _Node(component_title(key) if key else f"stack-level resources of {stack}".strip())
        return nodes[key]

    for change in changes(digest):
        if not change.is_stack:  # the stack's own step (its outputs) is no component
            found = node(resolve(change.urn) or "")
            found.counts[change.op] = found.counts.get(change.op, 0) + 1
            found.names.append(change.name)
    edges = _edges(digest, resolve)
    if not changed_only:
        every = {resolve(str(urn)) for urn in extra.get("components") or {}} | {k for edge in edges for k in edge}
        for key in sorted(k for k in every if k is not None):
            node(key)
    edges = {e: w for e, w in edges.items() if e[0] in nodes and e[1] in nodes}
    what = "changed top-level components" if changed_only else "top-level components"
    header = (
        f"stackhub-ha preview of stack {stack or '?'}: {what}; an arrow goes from a component to one that depends on it"
    )
    if not nodes:
        nodes[""] = _Node(f"{stack or 'the stack'}: no changes", kind="same")
    return _Graph(header, nodes, edges)


def _edges(digest: Mapping[str, Any], resolve: Callable[[str], str | None]) -> dict[tuple[str, str], int]:
    """Component -> dependent component, with the number of resource dependencies between them."""
    edges: dict[tuple[str, str], int] = {}

    def link(dependency: str, dependent: str) -> None:
        source, target = resolve(dependency), resolve(dependent)
        if source is not None and target is not None and source != target:
            edges[(source, target)] = edges.get((source, target), 0) + 1

    for step in digest.get("steps") or ():
        state = step.get("newState") or step.get("oldState") or {}
        urn = str(step.get("urn") or "")
        if state.get("type") == STACK_TYPE:
            continue
        for dependency in state.get("dependencies") or ():
            link(str(dependency), urn)
        # A resource depends on its provider too (a replaced provider replaces what it manages).
        provider = str(state.get("provider") or step.get("provider") or "")
        if provider:
            link(provider.rsplit("::", 1)[0], urn)
    for replaced, dependents in sorted((extra_of(digest).get("dependentsOfReplaced") or {}).items()):
        for dependent in dependents:
            link(str(replaced), str(dependent))
    return edges


def extra_of(digest: Mapping[str, Any]) -> Mapping[str, Any]:
    """The digest's `stackhubHa` block ({} when it has none)."""
    extra: Mapping[str, Any] = digest.get("stackhubHa") or {}
    return extra


def render_graph(digest: Mapping[str, Any], *, changed_only: bool) -> str:
    """The component graph of a preview digest as a Mermaid flowchart within GitHub's limits (see the module)."""
    graph = _component_graph(digest, changed_only=changed_only)
    if graph.fits():
        return graph.text()
    unchanged = {k for k, n in graph.nodes.items() if not n.changed}
    if unchanged:
        graph = graph.without(unchanged)
        graph.notes.append(f"{len(unchanged):,} unchanged components")
        if graph.fits():
            return graph.text()
    graph.names = False
    graph.notes.append("the names of the changed resources in each component (their counts are kept)")
    if graph.fits():
        return graph.text()
    before = len(graph.nodes)

    def by_type(key: str) -> str:
        return f"type:{urn_type(key)}" if key else key

    def type_title(group: str, keys: list[str]) -> str:
        return f"{len(keys):,} x {group.removeprefix('type:').rsplit(':', 1)[-1]}"

    graph = graph.merged(by_type, type_title)
    if len(graph.nodes) < before:
        graph.notes.append(f"{before:,} components merged into {len(graph.nodes):,} nodes, one per component type")
    return _cut(graph).text()


# --- the stacks' fan-in -------------------------------------------------------------------------------------


def render_stack_graph(stacks: Mapping[str, Sequence[str]]) -> str:
    """Stacks and their StackReferences (`stack -> the stacks it references`) as a Mermaid flowchart: an arrow
    from each referenced stack to the stack that reads it; a stack read by none but reading several (the global
    stack over the hubs) drawn as the fan-in."""
    names = sorted(set(stacks) | {r for refs in stacks.values() for r in refs})
    edges = {(str(ref), stack): 1 for stack, refs in stacks.items() for ref in refs if ref != stack}
    readers = {name: sorted(s for s, refs in stacks.items() if name in refs) for name in names}
    nodes = {
        name: _Node(name, kind="fanin" if len(stacks.get(name, ())) > 1 and not readers[name] else "stack")
        for name in names
    }
    graph = _Graph("stack references: an arrow goes from a stack to each stack that reads its outputs", nodes, edges)
    if graph.fits():
        return graph.text()

    # Stacks with the same references and the same readers (the hubs) as one node.
    def signature(name: str) -> str:
        return "|".join([",".join(sorted(stacks.get(name, ()))), ",".join(readers[name])])

    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(signature(name), []).append(name)
    key_of = {
        name: (members[0] if len(members) == 1 else f"group:{members[0]}")
        for members in groups.values()
        for name in members
    }

    def title(_group: str, keys: list[str]) -> str:
        shown = ", ".join(keys[:3])
        return f"{len(keys):,} stacks: {shown}" + (f" and {len(keys) - 3:,} more" if len(keys) > 3 else "")

    merged = graph.merged(key_of.__getitem__, title)
    merged.notes.append(f"{len(names):,} stacks merged into {len(merged.nodes):,} nodes (same references and readers)")
    return _cut(merged).text()
