"""The engine's own rules, each on a small program: what the offline engine decides beyond what providers say."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s

from preview.engine import StackRun, run_stack
from preview.state import StackState

KUBECONFIG = '{"clusters":[{"name":"c","cluster":{"server":"https://c.example"}}],"contexts":[{"name":"c",' \
    '"context":{"cluster":"c"}}],"current-context":"c"}'  # fmt: skip


def program(*, run_marker: str, data: str, identifier: str | None = "cluster-1") -> Callable[[], None]:
    """A command whose stdout is the kubeconfig of a provider, and a ConfigMap on that provider."""

    def declare() -> None:
        cluster = command.local.Command("cluster", create=f"echo '{KUBECONFIG}'", environment={"RUN": run_marker})
        # Offline, the command prints nothing; the kubeconfig is known exactly when its stdout is.
        kubeconfig = cluster.stdout.apply(lambda _: KUBECONFIG)
        provider = k8s.Provider("cluster-k8s", kubeconfig=kubeconfig, cluster_identifier=identifier)
        k8s.core.v1.ConfigMap(
            "settings",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="settings", namespace="default"),
            data={"value": data},
            opts=pulumi.ResourceOptions(provider=provider),
        )

    return declare


def deploy(**kwargs: str) -> StackState:
    return run_stack("shared", program=program(**kwargs)).state()


def preview(prior: StackState, **kwargs: str) -> StackRun:
    return run_stack("shared", program=program(**kwargs), mode="preview", prior=prior)


def test_a_resource_on_a_provider_with_unknown_config_gets_the_engines_input_diff() -> None:
    prior = deploy(run_marker="1", data="a")
    # The command is updated, so its stdout (the provider's kubeconfig) is unknown in the preview; the provider
    # cannot be asked for a diff and the engine compares inputs (provider_plugin.go Diff -> DiffUnknown,
    # step_generator.go diffResource): the ConfigMap's data change shows as an update, though the provider, once
    # configured during `up`, replaces a ConfigMap whose data changes.
    run = preview(prior, run_marker="2", data="b")
    assert run.named("cluster-k8s").op == "update"
    config_map = run.named("settings")
    assert (config_map.op, config_map.diff.changed) == ("update", ("data.value",))
    assert config_map.state == {}  # provider_plugin.go Update: no outputs while the configuration is unknown


def test_with_a_known_provider_config_the_provider_decides() -> None:
    prior = deploy(run_marker="1", data="a")
    run = preview(prior, run_marker="1", data="b")
    assert run.named("cluster-k8s").op == "same"
    config_map = run.named("settings")
    # pulumi-kubernetes diff.go: a ConfigMap's data is immutable to the provider by default; named, so it is
    # deleted before its replacement is created.
    assert (config_map.op, config_map.diff.replaces, config_map.diff.delete_before_replace) == (
        "replace",
        ("data.value",),
        True,
    )


def test_without_a_cluster_identifier_an_unknown_kubeconfig_replaces_the_provider_and_its_resources() -> None:
    prior = deploy(run_marker="1", data="a", identifier=None)  # type: ignore[arg-type]
    run = preview(prior, run_marker="2", data="a", identifier=None)  # type: ignore[arg-type]
    assert (run.named("cluster-k8s").op, run.named("cluster-k8s").diff.replaces) == ("replace", ("kubeconfig",))
    assert (run.named("settings").op, run.named("settings").diff.replaces) == ("replace", ("provider",))
