"""ChangeGuard: refuses, already in `pulumi preview`, a change of settings that the running system cannot take.

Some settings cannot change once deployed (a cluster's master count, DNS prefix or VM sizes; a database
volume's size), and the resource that applies them cannot tell in a preview: pulumi-command's `stdout` is unknown
while an update is previewed, so nothing derived from the last run can be checked then, and a protected
StatefulSet whose volume template changes only shows up as a protected replacement. A guard is a tiny dynamic
resource holding those settings. The engine calls its provider's `check` with the previous inputs and the new ones
in every preview and update (pkg/resource/deploy/step_generator.go calls Check(olds, news) before Diff), and a
check failure stops the preview with the guard's reasons before anything runs. The rule itself is a plain
function `rule(old, new) -> [reasons]` defined at module level in an importable module: the provider is pickled
with it by reference, and the dynamic-provider host imports it from the program's folder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.output import contains_unknowns

ChangeRule = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]
"""Reasons why the settings cannot go from the first mapping to the second (empty: allowed)."""

SETTINGS_KEY = "settings"


class ChangeGuardProvider(pulumi.dynamic.ResourceProvider):
    """Fails Check when the rule refuses the change from the previous settings; otherwise stores them."""

    # The pickled provider holds the rule, by reference, and nothing secret: keep it readable in previews.
    serialize_as_secret_always = False

    def __init__(self, rule: ChangeRule) -> None:
        super().__init__()
        self.rule = rule

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, self.refusals(_olds, news))

    def refusals(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
        """The rule's reasons as check failures; a first deployment (no old settings) is never refused."""
        old, new = olds.get(SETTINGS_KEY), news.get(SETTINGS_KEY)
        if not isinstance(old, Mapping) or not isinstance(new, Mapping) or contains_unknowns(new):
            return []
        # No property name: the engine would print the whole property value next to it.
        return [pulumi.dynamic.CheckFailure("", reason) for reason in self.rule(old, new)]

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return pulumi.dynamic.DiffResult(changes=olds.get(SETTINGS_KEY) != news.get(SETTINGS_KEY), replaces=[])

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        digest = hashlib.sha256(json.dumps(props.get(SETTINGS_KEY), sort_keys=True).encode()).hexdigest()[:16]
        return pulumi.dynamic.CreateResult(f"guard-{digest}", {SETTINGS_KEY: props.get(SETTINGS_KEY)})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult({SETTINGS_KEY: news.get(SETTINGS_KEY)})


class ChangeGuard(pulumi.dynamic.Resource):
    """Holds settings that only `rule` may let change; put it before (`depends_on`) what applies them."""

    settings: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        name: str,
        settings: pulumi.Input[Mapping[str, Any]],
        rule: ChangeRule,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(ChangeGuardProvider(rule), name, {SETTINGS_KEY: settings}, opts)
