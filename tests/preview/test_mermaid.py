"""The Mermaid graphs (`preview/mermaid.py`): components of a real preview, GitHub's limits, the stacks' fan-in."""

from __future__ import annotations

import html
import random
import re
from typing import Any

import pytest

from preview.mermaid import MAX_EDGES, MAX_TEXT, escape, fenced, render_graph, render_stack_graph
from tests.preview.test_markdown import APP, NETWORK, preview_digest, small_digest, synthetic_digest

NODE = re.compile(r'^    (n\d+)\["(.*)"\]$')
EDGE = re.compile(r"^    (n\d+) -->(?:\|([\d,]+)\|)? (n\d+)$")
CLASS = re.compile(r"^    class ([\w,]+) (\w+)$")


def unescape(label: str) -> str:
    """What Mermaid shows for a label: entity codes decoded, `<br/>` as a newline."""
    return html.unescape(re.sub(r"#(\d+);", r"&#\1;", label)).replace("<br/>", "\n")


def parse(diagram: str) -> tuple[dict[str, str], dict[tuple[str, str], int], dict[str, str], list[str]]:
    """Titles by node id, edge weights by (source title, target title), style by title, and `%%` comments.

    Every line must be one this module writes: anything else fails here.
    """
    lines = diagram.splitlines()
    assert lines[0] == "flowchart LR"
    labels: dict[str, str] = {}
    edges: dict[tuple[str, str], int] = {}
    styles: dict[str, str] = {}
    comments: list[str] = []
    for line in lines[1:]:
        if node := NODE.match(line):
            assert '"' not in node.group(2)
            labels[node.group(1)] = unescape(node.group(2))
        elif edge := EDGE.match(line):
            title = {k: v.split("\n")[0] for k, v in labels.items()}
            pair = (title[edge.group(1)], title[edge.group(3)])
            assert pair not in edges
            edges[pair] = int((edge.group(2) or "1").replace(",", ""))
        elif style := CLASS.match(line):
            for node_id in style.group(1).split(","):
                styles[labels[node_id].split("\n")[0]] = style.group(2)
        elif line.startswith("    %% "):
            comments.append(line.removeprefix("    %% "))
        else:
            assert line.startswith("    classDef "), line
    return labels, edges, styles, comments


def titles(labels: dict[str, str]) -> set[str]:
    return {label.split("\n")[0] for label in labels.values()}


# --- a real preview -----------------------------------------------------------------------------------------


def test_a_new_cluster_identity_shows_the_changed_components_and_their_dependencies() -> None:
    diagram = render_graph(preview_digest(dnsPrefix="seattle2"), changed_only=True)
    labels, edges, styles, comments = parse(diagram)
    cluster, platform, app = "AksEngineCluster hub-seattle", "ClusterPlatform hub-seattle", "RatingsApp hub-seattle"
    backup = "DatabaseBackup hub-seattle-backup"
    assert titles(labels) == {cluster, platform, app, backup}
    # The Kubernetes provider (in the cluster component) manages every platform, app and backup resource; the
    # backup's objects wait for the app's namespace.
    assert edges == {(cluster, platform): 17, (cluster, app): 28, (platform, app): 18, (cluster, backup): 13,
                     (app, backup): 13}  # fmt: skip
    assert styles == dict.fromkeys((cluster, platform, app, backup), "replace")
    (app_label,) = [label for label in labels.values() if label.startswith(app)]
    assert app_label.split("\n")[1] == "28 to replace"
    assert app_label.split("\n")[2].startswith("hub-seattle-namespace, ")
    assert app_label.split("\n")[2].endswith(" and 23 more")
    assert comments == [
        "stackhub-ha preview of stack hub-seattle: changed top-level components; "
        "an arrow goes from a component to one that depends on it"
    ]


def test_the_whole_graph_shows_unchanged_components_too() -> None:
    digest = preview_digest(adminSourceCidrs=["10.250.10.0/24", "10.250.20.0/24"])
    changed = parse(render_graph(digest, changed_only=True))
    whole = parse(render_graph(digest, changed_only=False))
    assert titles(changed[0]) == {"HubNetwork hub-seattle"}
    assert titles(whole[0]) == {
        f"{kind} hub-seattle" for kind in ("HubNetwork", "AksEngineCluster", "ClusterPlatform", "RatingsApp")
    } | {"DatabaseBackup hub-seattle-backup"}
    assert whole[2]["HubNetwork hub-seattle"] == "update"
    assert whole[2]["RatingsApp hub-seattle"] == "same"


def test_labels_are_escaped_for_mermaid() -> None:
    digest = small_digest()
    odd = 'we"ird #1 <b>x</b> & `y` %% z'
    for step in digest["steps"]:
        step["urn"] = step["urn"].replace("hub-test-nsg", odd)
    components = digest["stackhubHa"]["components"]
    components[next(u for u in components if "hub-test-nsg" in u).replace("hub-test-nsg", odd)] = NETWORK
    diagram = render_graph(digest, changed_only=True)
    assert '"we' not in diagram
    assert "<b>" not in diagram
    assert "%% z" not in diagram
    labels, _, _, _ = parse(diagram)
    (network,) = [label for label in labels.values() if label.startswith("HubNetwork")]
    assert network.split("\n")[2] == f"hub-test-ip, {odd}"
    assert escape("a\nb") == "a b"
    assert fenced("flowchart LR").splitlines() == ["```mermaid", "flowchart LR", "```"]


def test_the_graph_does_not_depend_on_the_order_of_the_steps() -> None:
    digest = synthetic_digest(300, components=30, unchanged=300)
    first = render_graph(digest, changed_only=False)
    random.Random(3).shuffle(digest["steps"])
    assert render_graph(digest, changed_only=False) == first
    assert render_graph(digest, changed_only=False) == first


def test_edges_come_from_dependencies_collapsed_to_components() -> None:
    digest = small_digest()
    # The API (app) depends on the security group (network) twice over; a dependency inside a component is none.
    api = {**digest["steps"][1], "op": "update", "urn": f"{APP.split('::')[0]}::x::stackhub-ha:index:RatingsApp$t::api"}
    api["newState"] = {**api["newState"], "dependencies": [digest["steps"][1]["urn"], digest["steps"][0]["urn"]]}
    digest["stackhubHa"]["components"][api["urn"]] = APP
    digest["steps"].append(api)
    _, edges, _, _ = parse(render_graph(digest, changed_only=True))
    # and dependentsOfReplaced: the database's dependents are app resources (same component): no edge.
    assert edges == {("HubNetwork hub-test", "RatingsApp hub-test"): 2}


# --- GitHub's limits ----------------------------------------------------------------------------------------


def limits_hold(diagram: str) -> tuple[dict[str, str], dict[tuple[str, str], int], dict[str, str], list[str]]:
    parsed = parse(diagram)
    assert len(parsed[1]) <= MAX_EDGES
    assert len(diagram) <= MAX_TEXT
    return parsed


def test_two_thousand_resources_fit_by_leaving_out_unchanged_components_and_merging_by_type() -> None:
    digest = synthetic_digest(1_000, components=300, types=20, unchanged=1_000, quiet_components=100)
    whole = limits_hold(render_graph(digest, changed_only=False))
    changed = limits_hold(render_graph(digest, changed_only=True))
    for _labels, _edges, _styles, comments in (whole, changed):
        notes = [c for c in comments if c.startswith("left out to fit GitHub's Mermaid limits: ")]
        assert any("300 components merged into 20 nodes, one per component type" in c for c in notes)
        assert any("the names of the changed resources" in c for c in notes)
    assert "left out to fit GitHub's Mermaid limits: 100 unchanged components" in whole[3]
    # Merged nodes count their components and add up their changes: 1,000 changed resources in all.
    assert all(re.fullmatch(r"15 x Kind\d+", t) for t in titles(whole[0]))
    counted = sum(int(n.replace(",", "")) for label in whole[0].values() for n in re.findall(r"([\d,]+) to \w+", label))
    assert counted == 1_000


def test_two_thousand_components_of_distinct_types_fit_by_leaving_out_edges_and_nodes() -> None:
    digest = synthetic_digest(2_000, components=2_000, cautions=10)
    diagram = render_graph(digest, changed_only=True)
    labels, edges, styles, comments = limits_hold(diagram)
    notes = " | ".join(comments)
    # The nodes that stay keep the most important edges among them, as many as Mermaid draws.
    assert len(edges) == MAX_EDGES
    assert {t for pair in edges for t in pair} <= titles(labels)
    assert re.search(r"[\d,]+ of [\d,]+ edges \(the least important\)", notes)
    assert re.search(r"[\d,]+ of 2,000 nodes \(unchanged and least changed first\)", notes)
    # What matters most stays: the replaced components.
    replaced = {t for t, s in styles.items() if s == "replace"}
    assert {f"Kind{i} comp-{i:04d}" for i in range(10)} <= replaced
    assert len(diagram) > MAX_TEXT * 0.9


def test_over_500_edges_the_most_important_stay() -> None:
    # 100 components of one kind of step each (create, update, delete, replace), ~1,900 component edges.
    digest = synthetic_digest(1_000, components=100)
    labels, kept, styles, comments = limits_hold(render_graph(digest, changed_only=True))
    assert len(titles(labels)) == 100
    assert any(re.fullmatch(r"[\d,]+ of [\d,]+ edges \(the least important\)", c.split(": ", 1)[1]) for c in comments)
    title = {
        urn: f"Kind{urn[-4:].lstrip('0') or '0'} comp-{urn[-4:]}" for urn in digest["stackhubHa"]["components"].values()
    }
    every: dict[tuple[str, str], int] = {}
    for step in digest["steps"]:
        state = step["newState"] or step["oldState"]
        for dependency in state["dependencies"]:
            pair = (
                title[digest["stackhubHa"]["components"][dependency]],
                title[digest["stackhubHa"]["components"][step["urn"]]],
            )
            if pair[0] != pair[1]:
                every[pair] = every.get(pair, 0) + 1
    assert len(kept) == MAX_EDGES < len(every)
    assert all(every[pair] == weight for pair, weight in kept.items())
    rank = {"delete": 4, "replace": 3, "create": 2, "update": 1}

    def importance(pair: tuple[str, str]) -> tuple[int, int]:
        return max(rank[styles[pair[0]]], rank[styles[pair[1]]]), every[pair]

    dropped = set(every) - set(kept)
    assert min(importance(pair) for pair in kept) >= max(importance(pair) for pair in dropped)


def test_the_graph_is_the_same_every_time() -> None:
    digest = synthetic_digest(2_000, components=2_000)
    assert render_graph(digest, changed_only=True) == render_graph(digest, changed_only=True)


# --- the stacks' fan-in -------------------------------------------------------------------------------------


def stacks_of(hubs: int) -> dict[str, list[str]]:
    names = [f"hub-{i:04d}" for i in range(hubs)]
    return {"shared": [], **{key: ["shared"] for key in names}, "global": ["shared", *names]}


def test_the_shipped_stacks_fan_in_to_the_global_stack() -> None:
    shipped = {"shared": [], "hub-seattle": ["shared"], "hub-denver": ["shared"]}
    labels, edges, styles, _ = limits_hold(
        render_stack_graph({**shipped, "global": ["shared", "hub-seattle", "hub-denver"]})
    )
    assert titles(labels) == {"shared", "hub-seattle", "hub-denver", "global"}
    assert set(edges) == {
        ("shared", "hub-seattle"), ("shared", "hub-denver"), ("shared", "global"),
        ("hub-seattle", "global"), ("hub-denver", "global"),
    }  # fmt: skip
    assert styles["global"] == "fanin"
    assert {styles[s] for s in ("shared", "hub-seattle", "hub-denver")} == {"stack"}


@pytest.mark.parametrize("hubs", [2, 50])
def test_the_global_stacks_fan_in_over_hubs(hubs: int) -> None:
    diagram = render_stack_graph(stacks_of(hubs))
    labels, edges, styles, comments = limits_hold(diagram)
    assert len(labels) == hubs + 2
    assert len(edges) == 2 * hubs + 1
    assert {(f"hub-{i:04d}", "global") for i in range(hubs)} <= set(edges)
    assert styles["global"] == "fanin"
    assert not [c for c in comments if c.startswith("left out")]
    assert render_stack_graph(dict(reversed(list(stacks_of(hubs).items())))) == diagram


def test_a_fan_in_over_a_thousand_hubs_merges_the_hubs_into_one_node() -> None:
    labels, edges, _, comments = limits_hold(render_stack_graph(stacks_of(1_000)))
    assert titles(labels) == {"shared", "global", "1,000 stacks: hub-0000, hub-0001, hub-0002 and 997 more"}
    assert len(edges) == 3
    assert any("1,002 stacks merged into 3 nodes" in c for c in comments)


def test_stacks_that_cannot_be_merged_keep_the_most_edges_that_fit() -> None:
    # 600 stacks each reading its own pair: no two alike, 1,200 edges.
    stacks: dict[str, Any] = {f"s{i:03d}": [f"s{(i + 1) % 600:03d}", f"s{(i + 7) % 600:03d}"] for i in range(600)}
    _, edges, _, comments = limits_hold(render_stack_graph(stacks))
    assert len(edges) == MAX_EDGES
    assert any("700 of 1,200 edges" in c for c in comments)


def test_no_change_is_one_node_saying_so() -> None:
    labels, edges, styles, _ = limits_hold(render_graph(preview_digest(), changed_only=True))
    assert list(labels.values()) == ["hub-seattle: no changes"]
    assert edges == {}
    assert styles == {"hub-seattle: no changes": "same"}


def test_the_stacks_own_step_is_no_component() -> None:
    digest = small_digest()
    root = "urn:pulumi:hub-test::stackhub-ha::pulumi:pulumi:Stack::stackhub-ha-hub-test"
    state = {"urn": root, "custom": False, "type": "pulumi:pulumi:Stack", "inputs": {}, "outputs": {}}
    digest["steps"].append({"op": "update", "urn": root, "oldState": state, "newState": state, "detailedDiff": {}})
    labels, _, _, _ = parse(render_graph(digest, changed_only=False))
    assert titles(labels) == {"HubNetwork hub-test", "RatingsApp hub-test"}
