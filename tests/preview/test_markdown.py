"""The pull-request comment (`preview/markdown.py`), from hand-written digests and from real offline previews.

`digest_of` turns an offline run into the digest shape `python -m preview --json` prints (the shape of `pulumi
preview --json` plus `policyEvents` and `stackhubHa`); `preview/digest.py` will build the real one.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from typing import Any

import pytest

from preview.engine import REDACTED, StackRun, redact
from preview.markdown import (
    AZURE_REPOS_LIMIT,
    GITHUB_LIMIT,
    UNKNOWN,
    component_resolver,
    parse_path,
    render_comment,
    show_value,
    summary_line,
    type_label,
    value_at,
)
from preview.providers import under
from preview.state import ResourceState, StackState
from tests.conftest import PREFIX, config_of, run_with

HUB = "hub-seattle"
BASE_SHA = "abc1234" + "0" * 33
HEAD_SHA = "def5678" + "1" * 33
PROJECT = "stackhub-ha"

# --- a run as a digest --------------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    """A value as a digest carries it: secrets "[secret]", unknowns Pulumi's unknown sentinel."""
    value = redact(value)
    if type(value).__name__ == "Unknown":
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in inputs.items() if k != "__provider"}


def _old_state(old: ResourceState) -> dict[str, Any]:
    return {
        "urn": old.urn,
        "custom": old.custom,
        "id": old.id,
        "type": old.type,
        "inputs": _inputs(old.inputs),
        "outputs": _value(old.outputs),
        "parent": old.parent,
        "protect": old.protect,
        "dependencies": list(old.dependencies),
        "provider": old.provider,
    }


def _top_level(run: StackRun) -> dict[str, str]:
    parents = {r.urn: r.parent for r in run.resources}
    custom = {r.urn: r.custom for r in run.resources}
    found: dict[str, str] = {}
    for urn in parents:
        current = urn
        while parents.get(current, "") in parents:
            current = parents[current]
        found[urn] = current if (current != urn or not custom[urn]) else ""
    return found


def _urn_in(message: str) -> str:
    match = re.search(r"urn:pulumi:\S+", message)
    return match.group(0) if match else ""


def digest_of(
    run: StackRun,
    *,
    config: Mapping[str, Any] | None = None,
    secret_keys: frozenset[str] = frozenset(),
    base: str | None = BASE_SHA,
    head: str = HEAD_SHA,
    policy_events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An offline preview as a `pulumi preview --json`-shaped digest with this project's `stackhubHa` block."""
    steps: list[dict[str, Any]] = []
    for r in run.resources:
        if r.op == "same":
            continue
        new = {
            "urn": r.urn,
            "custom": r.custom,
            "id": r.id,
            "type": r.type,
            "inputs": _inputs(r.inputs),
            "outputs": _value(r.state),
            "parent": r.parent,
            "protect": r.protect,
            "dependencies": list(r.dependencies),
            "provider": r.provider,
        }
        detailed = {
            p: {"kind": "update-replace" if under(p, r.diff.replaces) else "update", "inputDiff": True}
            for p in r.diff.changed
        }
        steps.append(
            {
                "op": r.op,
                "urn": r.urn,
                "provider": r.provider,
                "oldState": _old_state(r.old) if r.old is not None else None,
                "newState": new,
                "diffReasons": sorted({re.split(r"[.\[]", p)[0] for p in r.diff.changed}),
                "replaceReasons": list(r.diff.replaces),
                "detailedDiff": detailed,
            }
        )
    for gone in run.deleted:
        steps.append(
            {
                "op": "delete",
                "urn": gone.urn,
                "provider": gone.provider,
                "oldState": _old_state(gone),
                "newState": None,
                "diffReasons": [],
                "replaceReasons": [],
                "detailedDiff": {},
            }
        )
    names = {r.name: r.urn for r in run.resources}
    diagnostics = []
    for error in run.errors:
        named = re.search(r"resource '([^']+)'", error)
        urn = _urn_in(error) or (names.get(named.group(1), "") if named else "")
        diagnostics.append({"urn": urn, "prefix": "error: ", "message": error, "severity": "error"})
    refused = [_urn_in(e) for e in run.errors if "protect" in e and _urn_in(e)]
    replaced = {r.urn for r in run.resources if r.op == "replace"}
    summary = {op: len(urns) for op, urns in run.steps().items()}
    return {
        "config": {k: REDACTED if k in secret_keys else v for k, v in (config or {}).items()},
        "steps": steps,
        "diagnostics": diagnostics,
        "duration": 123_000_000,
        "changeSummary": {op: summary.get(op, 0) for op in ("create", "update", "replace", "delete", "same")},
        "maybeCorrupt": False,
        "policyEvents": policy_events or [],
        "stackhubHa": {
            "project": run.project,
            "stack": run.stack,
            "base": {"ref": "origin/main", "commit": base} if base else None,
            "head": {"commit": head, "dirty": False},
            "refused": refused,
            "dataBearing": sorted(
                {r.urn for r in run.resources if r.protect} | {d.urn for d in run.deleted if d.protect}
            ),
            "dependentsOfReplaced": {
                urn: [r.urn for r in run.resources if r.op == "same" and urn in r.dependencies]
                for urn in sorted(replaced)
            },
            "components": _top_level(run),
        },
    }


@functools.cache
def deployed() -> StackState:
    """The state an offline `up` of hub-seattle leaves."""
    return run_with(HUB, config_of(HUB)).state()


def preview_digest(**overrides: Any) -> dict[str, Any]:
    """A digest of previewing hub-seattle, with config overridden, as an update from `deployed()`."""
    values = config_of(HUB, **overrides)
    run = run_with(HUB, values, mode="preview", prior=deployed())
    secret = frozenset({PREFIX + "armClientSecret", PREFIX + "armClientId"})
    return digest_of(run, config={PREFIX + k: v for k, v in values.items()}, secret_keys=secret)


# --- hand-written digests -----------------------------------------------------------------------------------

STACK = "hub-test"
NETWORK = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack$stackhub-ha:index:HubNetwork::{STACK}"
APP = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack$stackhub-ha:index:RatingsApp::{STACK}"
DYNAMIC = "pulumi-python:dynamic:Resource"


def child(component: str, type_: str, name: str) -> str:
    """The URN of a resource inside a top-level component."""
    parent_type = component.split("::")[2].rsplit("$", 1)[-1]
    return f"urn:pulumi:{STACK}::{PROJECT}::{parent_type}${type_}::{name}"


NSG = child(NETWORK, DYNAMIC, "hub-test-nsg")
IP = child(NETWORK, DYNAMIC, "hub-test-ip")
DB = child(APP, "kubernetes:apps/v1:StatefulSet", "hub-test-mongodb")
API = child(APP, "kubernetes:apps/v1:Deployment", "hub-test-api")
CACHE = child(APP, "kubernetes:core/v1:ConfigMap", "hub-test-cache")
WEB = child(APP, "kubernetes:apps/v1:Deployment", "hub-test-web")
NSG_ID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/hub-test-nsg"


def state(urn: str, inputs: dict[str, Any], *, protect: bool = False, deps: tuple[str, ...] = ()) -> dict[str, Any]:
    """A resource state as a digest step carries it."""
    type_ = urn.split("::")[2].rsplit("$", 1)[-1]
    parent = urn.split("::")[2].split("$", 1)[0]
    component = NETWORK if "HubNetwork" in parent else APP
    return {
        "urn": urn,
        "custom": True,
        "id": "",
        "type": type_,
        "inputs": inputs,
        "outputs": {},
        "parent": component,
        "protect": protect,
        "dependencies": list(deps),
        "provider": "",
    }


def step(op: str, urn: str, old: dict[str, Any] | None, new: dict[str, Any] | None, **diff: Any) -> dict[str, Any]:
    detailed = diff.get("detailed", {})
    return {
        "op": op,
        "urn": urn,
        "provider": "",
        "oldState": old,
        "newState": new,
        "diffReasons": sorted({re.split(r"[.\[]", p)[0] for p in detailed}),
        "replaceReasons": diff.get("replaces", []),
        "detailedDiff": {p: {"kind": k, "inputDiff": True} for p, k in detailed.items()},
    }


def small_digest() -> dict[str, Any]:
    """One of each step, a refused replacement of the protected database, an error, policy results, a warning."""
    nsg_old: dict[str, Any] = {
        "resource_id": NSG_ID,
        "api_version": "2018-11-01",
        "client_secret": "[secret]",
        "properties": {
            "securityRules": [
                {"name": "a", "properties": {"sourceAddressPrefix": "10.0.0.0/24"}},
                {"name": "b", "properties": {"sourceAddressPrefix": "10.1.0.0/24"}},
            ]
        },
    }
    nsg_new = copy.deepcopy(nsg_old)
    nsg_new["properties"]["securityRules"][1]["properties"]["sourceAddressPrefix"] = "10.250.10.0/24"
    db_old = {"spec": {"replicas": 3, "volumeClaimTemplates": [{"spec": {"storage": "16Gi"}}]}}
    db_new = {"spec": {"replicas": 3, "volumeClaimTemplates": [{"spec": {"storage": "32Gi"}}]}}
    steps = [
        step(
            "create",
            IP,
            None,
            state(
                IP,
                {
                    "resource_id": NSG_ID.replace(
                        "networkSecurityGroups/hub-test-nsg", "publicIPAddresses/hub-test-ip"
                    ),
                    "api_version": "2018-11-01",
                },
            ),
        ),
        step(
            "update",
            NSG,
            state(NSG, nsg_old),
            state(NSG, nsg_new),
            detailed={
                "properties.securityRules[1].properties.sourceAddressPrefix": "update",
                "client_secret": "update",
            },
        ),
        step(
            "replace",
            DB,
            state(DB, db_old, protect=True),
            state(DB, db_new, protect=True),
            detailed={"spec.volumeClaimTemplates[0].spec.storage": "update-replace"},
            replaces=["spec.volumeClaimTemplates[0].spec.storage"],
        ),
        step("delete", CACHE, state(CACHE, {"data": {"k": "v"}}), None),
    ]
    return {
        "config": {"stackhub-ha:hubName": STACK, "stackhub-ha:armClientSecret": "[secret]"},
        "steps": steps,
        "diagnostics": [
            {
                "urn": DB,
                "prefix": "error: ",
                "severity": "error",
                "message": f"unable to replace resource {DB}\nas it is currently marked for protection",
            },
            {"urn": "", "prefix": "warning: ", "severity": "warning", "message": "the kubeconfig is unknown"},
        ],
        "duration": 1,
        "changeSummary": {"create": 1, "update": 1, "replace": 1, "delete": 1, "same": 12},
        "maybeCorrupt": False,
        "policyEvents": [
            {
                "resourceUrn": NSG,
                "message": "advisory: tags missing",
                "policyName": "require-tags",
                "policyPackName": "stackhub-ha-policies",
                "policyPackVersion": "1.0.0",
                "enforcementLevel": "advisory",
                "severity": "low",
            },
            {
                "resourceUrn": IP,
                "message": "a public IP must not open 22 to the internet",
                "policyName": "no-open-ssh",
                "policyPackName": "stackhub-ha-policies",
                "policyPackVersion": "1.0.0",
                "enforcementLevel": "mandatory",
                "severity": "high",
            },
        ],
        "stackhubHa": {
            "project": PROJECT,
            "stack": STACK,
            "base": {"ref": "origin/main", "commit": BASE_SHA},
            "head": {"commit": HEAD_SHA, "dirty": False},
            "refused": [DB],
            "dataBearing": [DB],
            "dependentsOfReplaced": {DB: [API, WEB]},
            "components": {NSG: NETWORK, IP: NETWORK, DB: APP, CACHE: APP, API: APP, WEB: APP},
        },
    }


def test_the_summary_line_counts_each_kind_in_pulumis_order_and_leaves_out_zero_kinds() -> None:
    counts = {"create": 1, "update": 2, "replace": 3, "delete": 4, "same": 58}
    assert summary_line(counts) == "+ 1 to create, ~ 2 to update, +- 3 to replace, - 4 to delete, 58 unchanged"
    assert summary_line({"update": 1_234, "same": 0}) == "~ 1,234 to update"
    assert summary_line({"delete": 2, "same": 3}) == "- 2 to delete, 3 unchanged"


def test_the_comment_comes_in_its_order_marker_commits_summary_cautions_errors_policies_details() -> None:
    comment = render_comment(small_digest(), limit=GITHUB_LIMIT)
    lines = comment.splitlines()
    assert lines[0] == f"<!-- stackhub-ha-preview stack={STACK} head={HEAD_SHA} -->"
    summary = "**Resources:** + 1 to create, ~ 1 to update, +- 1 to replace, - 1 to delete, 12 unchanged"
    assert [line for line in lines if line.startswith("**Resources:**")] == [summary]
    order = [
        f"### Preview of stack `{STACK}`",
        "Base `abc1234` (origin/main) -> head `def5678`",
        summary,
        "> [!CAUTION]",
        "**1 error: the preview fails.**",
        "**Policy results:** 1 mandatory, 1 advisory",
        "**1 warning:**",
        "<details><summary>HubNetwork hub-test: + 1 to create, ~ 1 to update</summary>",
        "<details><summary>RatingsApp hub-test: +- 1 to replace, - 1 to delete</summary>",
    ]
    positions = [comment.index(part) for part in order]
    assert positions == sorted(positions)
    # The full SHAs are there too, so a late run cannot pass for a newer one.
    assert f"`{BASE_SHA}`" in comment
    assert f"`{HEAD_SHA}`" in comment


def test_a_first_deployment_has_no_base() -> None:
    digest = small_digest()
    digest["stackhubHa"]["base"] = None
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert "No base (a first deployment) -> head `def5678`" in comment
    assert "abc1234" not in comment


def test_a_refused_replacement_of_protected_data_is_a_caution_with_the_unchanged_dependents() -> None:
    comment = render_comment(small_digest(), limit=GITHUB_LIMIT)
    caution = comment[comment.index("> [!CAUTION]") :].split("\n\n")[0]
    assert all(line.startswith(">") for line in caution.splitlines())
    assert "Pulumi will refuse this plan" in caution
    (item,) = [line for line in caution.splitlines() if line.startswith("> - ")]
    assert "**replace** `kubernetes:apps/v1:StatefulSet` `hub-test-mongodb` (protected, holds data)" in item
    assert "**Pulumi will refuse the plan**" in item
    assert "Replaced because of `spec.volumeClaimTemplates[0].spec.storage`" in item
    assert "Unchanged resources that depend on it (2): `hub-test-api`, `hub-test-web`." in item
    # A plain delete of a resource holding no data is no caution.
    assert "hub-test-cache" not in caution


def test_a_delete_of_data_that_is_not_protected_is_a_caution_pulumi_does_not_refuse() -> None:
    digest = small_digest()
    digest["stackhubHa"] |= {"refused": [], "dataBearing": [CACHE]}
    digest["diagnostics"] = []
    digest["steps"][2]["oldState"]["protect"] = digest["steps"][2]["newState"]["protect"] = False
    caution = render_comment(digest, limit=GITHUB_LIMIT).split("> [!CAUTION]\n")[1].split("\n\n")[0]
    assert "refuse" not in caution
    assert "**delete** `kubernetes:core/v1:ConfigMap` `hub-test-cache` (holds data): deleted with everything" in caution
    assert "hub-test-mongodb" not in caution  # replaced, but neither protected nor holding data now


def test_changed_properties_show_old_and_new_values_and_secrets_only_as_changed() -> None:
    comment = render_comment(small_digest(), limit=GITHUB_LIMIT)
    assert (
        '    ~ properties.securityRules[1].properties.sourceAddressPrefix: "10.1.0.0/24" => "10.250.10.0/24"' in comment
    )
    assert "    ~ client_secret: changed (secret)" in comment
    assert '    ~ spec.volumeClaimTemplates[0].spec.storage: "16Gi" => "32Gi"  (forces replacement)' in comment
    assert "~ hub-test-nsg  arm:Microsoft.Network/networkSecurityGroups@2018-11-01" in comment
    assert "+ hub-test-ip  arm:Microsoft.Network/publicIPAddresses@2018-11-01" in comment
    assert "- hub-test-cache  kubernetes:core/v1:ConfigMap" in comment
    assert "+- hub-test-mongodb  kubernetes:apps/v1:StatefulSet  [protected]" in comment
    assert "= unchanged resources that depend on it (2): hub-test-api, hub-test-web" in comment
    # The config is never printed: not even the names of its secret keys.
    assert "armClientSecret" not in comment


def test_a_value_inside_a_secret_or_a_secret_envelope_is_never_shown() -> None:
    digest = small_digest()
    update = digest["steps"][1]
    update["oldState"]["inputs"]["nested"] = "[secret]"
    # A digest should carry "[secret]" only; an envelope that slipped through is still a secret.
    envelope = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2-new"}
    update["newState"]["inputs"]["nested"] = {"password": envelope}
    update["newState"]["inputs"]["token"] = envelope
    update["oldState"]["inputs"]["token"] = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": "hunter2",
    }
    update["newState"]["inputs"]["wrapped"] = {"inner": envelope}
    update["detailedDiff"] |= {p: {"kind": "update"} for p in ("nested.password", "token")}
    update["detailedDiff"]["wrapped"] = {"kind": "add"}
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert "hunter2" not in comment
    assert "    ~ nested.password: changed (secret)" in comment
    assert "    ~ token: changed (secret)" in comment
    assert '    + wrapped: {"inner": "[secret]"}' in comment


def test_property_paths_are_read_the_way_pulumi_writes_them() -> None:
    inputs = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x.y": {"z": "w"}, "s": "[secret]", "u": UNKNOWN}
    assert parse_path('a.b[1].c["d.e"]') == ["a", "b", 1, "c", "d.e"]
    assert value_at(inputs, "a.b[1].c") == 2
    assert value_at(inputs, '["x.y"].z') == "w"
    assert value_at(inputs, "s.deeper[0]") == "[secret]"
    assert show_value(value_at(inputs, "u.anything")) == "(known after pulumi up)"
    assert show_value(value_at(inputs, "a.b[2]")) == "(none)"
    assert show_value(value_at(inputs, "a.missing")) == "(none)"


def test_long_values_are_cut_around_where_old_and_new_differ() -> None:
    old = {"settings": "x" * 5_000 + "OLD-TAIL"}
    new = {"settings": "x" * 5_000 + "NEW-TAIL"}
    digest = small_digest()
    update = digest["steps"][1]
    update["oldState"]["inputs"] |= old
    update["newState"]["inputs"] |= new
    update["detailedDiff"] = {"settings": {"kind": "update"}}
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    (line,) = [line for line in comment.splitlines() if line.startswith("    ~ settings:")]
    assert "OLD-TAIL" in line
    assert "NEW-TAIL" in line
    assert line.count("(5,010 chars)") == 2
    assert len(line) < 600


def test_a_type_is_shown_as_its_arm_type_and_api_version_for_a_hub_resource() -> None:
    vnet = {
        "resource_id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/x",
        "api_version": "2018-11-01",
    }
    assert type_label({"type": DYNAMIC, "inputs": vnet}) == "arm:Microsoft.Network/virtualNetworks/subnets@2018-11-01"
    group = {"resource_id": "/subscriptions/s/resourceGroups/g", "api_version": "2019-10-01"}
    assert type_label({"type": DYNAMIC, "inputs": group}) == "arm:Microsoft.Resources/resourceGroups@2019-10-01"
    assert type_label({"type": DYNAMIC, "inputs": {"resource_id": UNKNOWN, "api_version": "1"}}) == DYNAMIC
    assert type_label({}, DB) == "kubernetes:apps/v1:StatefulSet"


def test_the_steps_of_one_replacement_are_one_replace() -> None:
    digest = small_digest()
    replace = digest["steps"][2]
    create = {**replace, "op": "create-replacement", "detailedDiff": {}, "replaceReasons": []}
    delete = {**replace, "op": "delete-replaced", "detailedDiff": {}, "replaceReasons": [], "newState": None}
    digest["steps"][2:3] = [create, replace, delete, {**replace, "op": "same", "urn": API}]
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert comment.count("+- hub-test-mongodb") == 1
    assert "(forces replacement)" in comment
    assert "hub-test-api  " not in comment  # a `same` step is no change


def test_policy_results_list_mandatory_violations_first_in_a_table() -> None:
    comment = render_comment(small_digest(), limit=GITHUB_LIMIT)
    table = [line for line in comment.splitlines() if line.startswith("| ")]
    assert table[0] == "| Policy | Level | Resource | Message |"
    assert table[2].startswith("| `no-open-ssh` (stackhub-ha-policies@1.0.0) | mandatory | `hub-test-ip` |")
    assert table[3].startswith("| `require-tags` (stackhub-ha-policies@1.0.0) | advisory | `hub-test-nsg` |")
    assert "(a mandatory violation fails the preview)" in comment


def test_text_from_the_digest_cannot_break_the_markdown() -> None:
    digest = small_digest()
    digest["policyEvents"][0]["message"] = "a | b <script>alert(1)</script> **bold**\nsecond line"
    digest["diagnostics"][0]["message"] = "```\n</details> [link](http://x) \x1b[31mred\x1b[0m"
    update = digest["steps"][1]
    update["newState"]["inputs"]["script"] = "```\n</details>"
    update["detailedDiff"]["script"] = {"kind": "add"}
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert "<script>" not in comment
    assert "a \\| b \\<script\\>alert(1)\\</script\\> \\*\\*bold\\*\\* second line" in comment
    assert "\\`\\`\\` \\</details\\> \\[link\\](http://x) red" in comment
    assert "\x1b" not in comment
    # A value holding a code fence lengthens the section's fence instead of closing it.
    section = comment[comment.index("<details><summary>HubNetwork") :]
    lines = section.splitlines()
    assert lines[2] == "````diff"
    closing = lines.index("````")
    assert any(line.startswith('    + script: "```\\n</details>"') for line in lines[3:closing])


def test_a_digest_without_the_components_block_groups_by_parent() -> None:
    digest = small_digest()
    del digest["stackhubHa"]["components"]
    resolve = component_resolver(digest)
    assert resolve(NSG) == NETWORK
    assert resolve(DB) == APP
    assert resolve("urn:pulumi:x::y::z::unknown") is None
    assert "<details><summary>RatingsApp hub-test:" in render_comment(digest, limit=GITHUB_LIMIT)


# --- real offline previews of hub-seattle -------------------------------------------------------------------


def test_no_change_is_the_marker_and_one_line() -> None:
    digest = preview_digest()
    assert digest["steps"] == []
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert comment.splitlines() == [
        f"<!-- stackhub-ha-preview stack={HUB} head={HEAD_SHA} -->",
        f"**{HUB}**: no changes (base `abc1234`, head `def5678`)",
    ]


def test_a_database_volume_size_change_is_a_caution_pulumi_refuses_and_the_guards_error() -> None:
    digest = preview_digest(databaseVolumeSize="32Gi")
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert "**Resources:** ~ 1 to update, +- 1 to replace, 74 unchanged" in comment
    caution = comment.split("> [!CAUTION]\n")[1].split("\n\n")[0]
    assert "**replace** `kubernetes:apps/v1:StatefulSet` `hub-seattle-mongodb` (protected, holds data)" in caution
    assert "Pulumi will refuse the plan" in caution
    errors = comment.split("**2 errors: the preview fails.**")[1].split("\n\n")[1]
    assert "hub-seattle-database-guard" in errors
    assert "cannot change from '16Gi' to '32Gi'" in errors
    assert (
        '~ spec.volumeClaimTemplates[0].spec.resources.requests.storage: "16Gi" => "32Gi"  (forces replacement)'
        in comment
    )


def test_a_rotated_service_principal_secret_shows_only_as_changed_secret() -> None:
    digest = preview_digest(armClientSecret="rotated-value-never-shown")
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert "**Resources:** ~ 7 to update, 69 unchanged" in comment
    for name in ("hub-seattle-rg", "hub-seattle-vnet", "hub-seattle-nsg", "hub-seattle-ingress-ip"):
        resource = comment.split(f"~ {name}  arm:")[1].split("\n~ ")[0]
        assert "    ~ client_secret: changed (secret)" in resource
    assert "    ~ stdin: changed (secret)" in comment
    assert "rotated-value-never-shown" not in comment
    assert "[!CAUTION]" not in comment


def test_a_new_cluster_identity_lists_every_replacement_and_the_three_refusals() -> None:
    digest = preview_digest(dnsPrefix="seattle2")
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert "+- 59 to replace" in comment
    caution = comment.split("> [!CAUTION]\n")[1].split("\n\n")[0]
    refused = {"hub-seattle-mongodb", "hub-seattle-database-storage", "hub-seattle-namespace"}
    assert {
        n for n in refused if f"`{n}` (protected, holds data): **Pulumi will refuse the plan**" in caution
    } == refused
    assert comment.count("\n+- ") == 59
    assert len(comment) < GITHUB_LIMIT // 4


# --- size limits --------------------------------------------------------------------------------------------


def synthetic_digest(
    resources: int,
    *,
    components: int,
    types: int | None = None,
    cautions: int = 0,
    dependents: int = 3,
    errors: int = 0,
    violations: int = 0,
    value_size: int = 300,
    unchanged: int = 0,
    quiet_components: int = 0,
    seed: int = 7,
) -> dict[str, Any]:
    """A large plan: `resources` changed resources spread over `components` top-level components (of `types`
    component types), the first `cautions` of them refused replacements of protected data, plus `unchanged`
    resources as `same` steps (as with --show-sames; in `quiet_components` more components when given), each
    depending on two earlier resources."""
    import random  # noqa: PLC0415 (only the synthetic digests need it)

    rng = random.Random(seed)
    stack = "hub-big"
    kinds = types or components

    def component(c: int) -> str:
        return f"urn:pulumi:{stack}::{PROJECT}::pulumi:pulumi:Stack$stackhub-ha:index:Kind{c % kinds}::comp-{c:04d}"

    urns: list[str] = []
    mapping: dict[str, str] = {}
    steps: list[dict[str, Any]] = []
    cycle = ("update", "create", "update", "delete", "replace")
    for i in range(resources + unchanged):
        c = components + i % quiet_components if i >= resources and quiet_components else i % components
        owner = component(c)
        kind = f"stackhub-ha:index:Kind{c % kinds}"
        urn = f"urn:pulumi:{stack}::{PROJECT}::{kind}$kubernetes:core/v1:ConfigMap::res-{i:05d}"
        op = "same" if i >= resources else "replace" if i < cautions else cycle[i % len(cycle)]
        deps = sorted(rng.sample(urns, 2)) if len(urns) >= 2 else []
        inputs = {"data": {"payload": "v" * value_size + f"-{i}"}, "token": "[secret]"}
        old: dict[str, Any] = {
            "urn": urn,
            "custom": True,
            "type": "kubernetes:core/v1:ConfigMap",
            "parent": owner,
            "protect": i < cautions,
            "dependencies": deps,
            "inputs": inputs,
        }
        new = copy.deepcopy(old)
        new["inputs"]["data"]["payload"] = "w" * value_size + f"-{i}"
        diff_kind = "update-replace" if op == "replace" else "update"
        steps.append(
            {
                "op": op,
                "urn": urn,
                "provider": "",
                "oldState": None if op == "create" else old,
                "newState": None if op == "delete" else new,
                "diffReasons": ["data", "token"] if op in ("update", "replace") else [],
                "replaceReasons": ["data"] if op == "replace" else [],
                "detailedDiff": {"data.payload": {"kind": diff_kind}, "token": {"kind": "update"}}
                if op in ("update", "replace")
                else {},
            }
        )
        urns.append(urn)
        mapping[urn] = owner
    refused = urns[:cautions]
    counts = {op: sum(1 for s in steps if s["op"] == op) for op in ("create", "update", "replace", "delete", "same")}
    return {
        "config": {"stackhub-ha:armClientSecret": "[secret]"},
        "steps": steps,
        "diagnostics": [
            {
                "urn": urns[k % len(urns)],
                "prefix": "error: ",
                "severity": "error",
                "message": f"check {k} failed: reason-{k}",
            }
            for k in range(errors)
        ],
        "duration": 1,
        "changeSummary": counts,
        "maybeCorrupt": False,
        "policyEvents": [
            {
                "resourceUrn": urns[k % len(urns)],
                "message": f"violation-{k} of the policy",
                "policyName": f"policy-{k}",
                "policyPackName": "pack",
                "policyPackVersion": "1",
                "enforcementLevel": "mandatory",
                "severity": "high",
            }
            for k in range(violations)
        ],
        "stackhubHa": {
            "project": PROJECT,
            "stack": stack,
            "base": {"ref": "origin/main", "commit": BASE_SHA},
            "head": {"commit": HEAD_SHA, "dirty": False},
            "refused": refused,
            "dataBearing": refused,
            "dependentsOfReplaced": {
                u: [f"urn:pulumi:{stack}::{PROJECT}::x$y::dep-{n}-of-{u[-5:]}" for n in range(dependents)]
                for u in refused
            },
            "components": mapping,
        },
    }


def summary_of(digest: Mapping[str, Any]) -> str:
    return "**Resources:** " + summary_line(digest["changeSummary"])


@pytest.mark.parametrize("limit", [GITHUB_LIMIT, AZURE_REPOS_LIMIT], ids=["github", "azure-repos"])
def test_thousands_of_steps_fit_the_limit_keeping_marker_summary_cautions_errors_and_violations(limit: int) -> None:
    digest = synthetic_digest(5_000, components=50, cautions=40, errors=10, violations=10)
    comment = render_comment(digest, limit=limit)
    assert limit * 0.9 < len(comment) <= limit
    assert comment.startswith(f"<!-- stackhub-ha-preview stack=hub-big head={HEAD_SHA} -->\n")
    assert summary_of(digest) in comment.splitlines()
    caution = comment.split("> [!CAUTION]\n")[1].split("\n\n")[0]
    assert [line.split("`")[3] for line in caution.splitlines() if line.startswith("> - ")] == [
        f"res-{i:05d}" for i in range(40)
    ]
    assert all(f"reason-{k}" in comment for k in range(10))
    assert all(f"violation-{k} of the policy" in comment for k in range(10))
    # Values went first, then sections; the closing note says so and where the rest is.
    assert " => " not in comment
    note = comment.splitlines()[-1]
    assert note.startswith(f"_Left out to fit the {limit:,}-character limit of a comment: the old and new values")
    assert "components (comp-" not in note  # titles are the component's type and name:
    assert "Kind" in note
    assert "the full preview is in this run's `--out` artifacts" in note
    kept = (
        comment.count("\n+- res-") + comment.count("\n~ res-") + comment.count("\n+ res-") + comment.count("\n- res-")
    )
    left = int(re.search(r"([\d,]+) changed resources in all", note).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert kept + left == 5_000


def test_the_values_are_left_out_before_any_section() -> None:
    digest = synthetic_digest(200, components=10)
    azure = render_comment(digest, limit=AZURE_REPOS_LIMIT)
    github = render_comment(digest, limit=GITHUB_LIMIT)
    assert len(github) <= GITHUB_LIMIT < len(azure) <= AZURE_REPOS_LIMIT
    assert azure.count(" => ") == 80 + 40  # updates and replaces, each a payload
    assert azure.count("    ~ token: changed (secret)") == 120
    assert " => " not in github
    assert github.count("    ~ token\n") == github.count("    ~ data.payload") == 120
    assert github.count("<details><summary>") == azure.count("<details><summary>") == 10
    assert "Left out" not in azure
    assert "the old and new values of changed properties" in github.splitlines()[-1]


def test_one_huge_component_is_kept_in_part_with_a_count() -> None:
    digest = synthetic_digest(3_000, components=1)
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert len(comment) <= GITHUB_LIMIT
    shown = comment.count("\nres-") + sum(comment.count(f"\n{m} res-") for m in ("+", "~", "+-", "-"))
    more = re.search(r"_([\d,]+) more changed resources of this component left out._", comment)
    assert more is not None
    assert shown + int(more.group(1).replace(",", "")) == 3_000
    assert shown > 100


@pytest.mark.parametrize("limit", [GITHUB_LIMIT, AZURE_REPOS_LIMIT], ids=["github", "azure-repos"])
def test_cautions_errors_and_violations_beyond_the_limit_keep_their_first_entries_and_a_count(limit: int) -> None:
    digest = synthetic_digest(3_000, components=20, cautions=3_000, dependents=40, errors=3_000, violations=3_000)
    comment = render_comment(digest, limit=limit)
    assert len(comment) <= limit
    assert comment.startswith("<!-- stackhub-ha-preview stack=hub-big head=")
    assert summary_of(digest) in comment.splitlines()
    assert "**3,000 deletes or replaces of protected or data-bearing resources.**" in comment
    assert "**3,000 errors: the preview fails.**" in comment
    assert "**Policy results:** 3,000 mandatory" in comment
    caution = comment.split("> [!CAUTION]\n")[1].split("\n\n")[0]
    listed = [line for line in caution.splitlines() if line.startswith("> - **")]
    assert listed
    assert listed[0].startswith("> - **replace** `kubernetes:core/v1:ConfigMap` `res-00000`")
    more = re.search(r"> - \.\.\. and ([\d,]+) more", caution)
    assert more is not None
    assert len(listed) + int(more.group(1).replace(",", "")) == 3_000
    # Dependents are counted rather than named once room is short.
    assert "Unchanged resources that depend on it (40)." in caution
    assert "check 0 failed: reason-0" in comment
    assert "violation-0 of the policy" in comment
    assert re.search(r"- \.\.\. and [\d,]+ more \(the full preview", comment.split("errors: the preview fails")[1])


def test_a_limit_too_small_for_the_marker_and_summary_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold the marker"):
        render_comment(small_digest(), limit=150)
    tiny = render_comment(small_digest(), limit=600)
    assert len(tiny) <= 600
    assert tiny.startswith("<!-- stackhub-ha-preview")
    assert "+ 1 to create, ~ 1 to update, +- 1 to replace, - 1 to delete, 12 unchanged" in tiny


def test_the_stacks_own_step_shows_its_outputs_last_and_is_no_resource_change() -> None:
    digest = small_digest()
    root = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
    outputs_old = {"ingressIp": "203.0.113.10", "kubeconfig": "[secret]"}
    outputs_new = {"ingressIp": UNKNOWN, "kubeconfig": "[secret]"}
    stack_step = {
        "op": "update",
        "urn": root,
        "provider": "",
        "oldState": {"urn": root, "custom": False, "type": "pulumi:pulumi:Stack", "inputs": {}, "outputs": outputs_old},
        "newState": {"urn": root, "custom": False, "type": "pulumi:pulumi:Stack", "inputs": {}, "outputs": outputs_new},
        "diffReasons": [],
        "replaceReasons": [],
        "detailedDiff": {p: {"kind": "update", "inputDiff": False} for p in ("outputs.ingressIp", "kubeconfig")},
    }
    digest["steps"].insert(0, stack_step)
    del digest["changeSummary"]  # counted from the steps: the stack's own step is no resource
    comment = render_comment(digest, limit=GITHUB_LIMIT)
    assert "**Resources:** + 1 to create, ~ 1 to update, +- 1 to replace, - 1 to delete\n" in comment
    sections = re.findall(r"<details><summary>([^<]*)</summary>", comment)
    assert sections == [
        "HubNetwork hub-test: + 1 to create, ~ 1 to update",
        "RatingsApp hub-test: +- 1 to replace, - 1 to delete",
        "the stack's outputs: ~ 1 to update",
    ]
    assert comment.count(f"~ {PROJECT}-{STACK}  pulumi:pulumi:Stack") == 1
    assert '    ~ outputs.ingressIp: "203.0.113.10" => (known after pulumi up)' in comment
    assert "    ~ kubeconfig: changed (secret)" in comment


def test_a_base_that_is_a_saved_state_is_named() -> None:
    digest = small_digest()
    digest["stackhubHa"]["base"] = {"ref": "state/hub-test.json", "commit": None}
    assert "Base `state/hub-test.json` (a saved state) -> head `def5678`" in render_comment(digest, limit=GITHUB_LIMIT)
    digest = preview_digest()
    digest["stackhubHa"]["base"] = {"ref": "state/hub-seattle.json", "commit": None}
    assert render_comment(digest, limit=GITHUB_LIMIT).splitlines()[1] == (
        f"**{HUB}**: no changes (base `state/hub-seattle.json`, head `def5678`)"
    )


def test_a_top_level_component_mapped_to_the_stack_is_still_its_own_group() -> None:
    # preview/digest.py maps a top-level component itself to '' (it is at the stack's top level).
    digest = small_digest()
    digest["stackhubHa"]["components"] |= {NETWORK: "", APP: ""}
    resolve = component_resolver(digest)
    assert (resolve(NETWORK), resolve(NSG), resolve(APP)) == (NETWORK, NETWORK, APP)


@pytest.mark.parametrize("name", ["small", "synthetic"])
def test_every_limit_from_tiny_to_large_is_kept(name: str) -> None:
    digest = (
        small_digest()
        if name == "small"
        else synthetic_digest(400, components=7, cautions=30, errors=20, violations=20)
    )
    summary = "+ 1 to create" if name == "small" else summary_line(digest["changeSummary"])
    for limit in [*range(400, 4_000, 97), *range(4_000, 160_000, 4_999)]:
        comment = render_comment(digest, limit=limit)
        assert len(comment) <= limit, limit
        assert comment.startswith("<!-- stackhub-ha-preview stack=")
        assert summary in comment, limit
