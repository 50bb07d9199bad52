"""A first preview leaves unknown what each provider only knows once the resource exists; an up knows it all.

What stays unknown mirrors the providers (preview/providers.py names the sources): the Python dynamic provider
echoes its inputs (no `server_properties`), pulumi-command runs nothing in a preview (no `stdout`), the bridged
tls and random providers plan computed attributes as unknown, azure-native returns its inputs, and no resource
has an id before it is created.
"""

from __future__ import annotations

import functools

import pytest

from preview.engine import StackRun, is_unknown, run_stack
from preview.render import as_json, as_tree
from tests.conftest import shared_outputs


@functools.cache
def hub(mode: str) -> StackRun:
    return run_stack("hub-seattle", stack_outputs={"shared": shared_outputs()}, mode=mode)  # type: ignore[arg-type]


@functools.cache
def shared(mode: str) -> StackRun:
    return run_stack("shared", mode=mode)  # type: ignore[arg-type]


# (stack, resource name, output that only exists after create)
COMPUTED = [
    ("hub", "hub-seattle-ingress-ip", "server_properties"),
    ("hub", "hub-seattle-aks-engine", "stdout"),
    ("hub", "hub-seattle-ssh", "publicKeyOpenssh"),
    ("hub", "hub-seattle-mongodb-root-password", "result"),
    ("shared", "registry-registry", "loginServer"),
    ("shared", "backups-account", "primaryEndpoints"),
]


@pytest.mark.parametrize(("stack", "name", "output"), COMPUTED, ids=[f"{n}.{o}" for _, n, o in COMPUTED])
def test_computed_outputs_are_unknown_before_create_and_known_after(stack: str, name: str, output: str) -> None:
    run = hub if stack == "hub" else shared
    assert output not in run("preview").named(name).state
    assert run("preview").named(name).id == ""
    after = run("up").named(name)
    assert after.state[output] not in (None, "", {})
    assert after.id


def test_inputs_stay_known_in_a_first_preview() -> None:
    ip = hub("preview").named("hub-seattle-ingress-ip")
    assert ip.state["resource_id"].endswith("/publicIPAddresses/hub-seattle-ingress-ip")
    assert ip.state["sku"] == {"name": "Basic"}


def test_what_is_derived_from_unknowns_is_unknown_in_the_outputs() -> None:
    outputs = hub("preview").outputs
    for key in ("ingressIp", "ingressFqdn", "apiServerFqdn", "masterCount", "agentCount", "kubernetesVersion"):
        assert is_unknown(outputs[key]), key
    for key in ("clusterResourceGroup", "vnetId", "sharedHostname"):
        assert not is_unknown(outputs[key]), key


def test_the_kubernetes_provider_has_an_unknown_kubeconfig_until_the_cluster_exists() -> None:
    provider = hub("preview").named("hub-seattle-k8s")
    assert is_unknown(provider.inputs["kubeconfig"])
    assert provider.op == "create"


def test_the_preview_shows_unknowns_as_known_after_up_and_the_up_shows_values() -> None:
    preview_text = as_tree(hub("preview"))
    up_text = as_tree(hub("up"))
    assert 'ingressIp: "(known after pulumi up)"' in preview_text
    assert "masterCount: 3\n" in up_text + "\n"
    assert '"masterCount": 3,' in as_json(hub("up"))
