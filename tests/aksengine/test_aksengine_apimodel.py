"""Cluster settings rules, the vlabs apimodel a hub needs, and the hub invariants checked on a model."""

import copy
import json
from typing import Any

import pytest

from aksengine.apimodel import (
    AZURE_DISK_CSI_ADDON,
    SERVICE_PRINCIPAL_SECRET_PLACEHOLDER,
    ClusterSettings,
    Problem,
    build_apimodel,
    hub_domain,
    settings_from_dict,
    settings_to_dict,
    validate,
    validate_apimodel,
    with_service_principal_secret,
)
from tests.aksengine.testkit import CLIENT_SECRET, SUBSCRIPTION, make_settings


def fields_of(problems: list[Problem]) -> list[str]:
    return [p.field for p in problems]


def test_valid_settings_have_no_problem() -> None:
    assert validate(make_settings()) == []
    assert validate(make_settings(master_count=5, identity_system="adfs")) == []


# Each case breaks one rule: (field overrides, field reported, part of the explanation).
RULES: list[tuple[dict[str, Any], str, str]] = [
    ({"location": "Local"}, "location", "lowercase letters and digits"),
    ({"portal_url": "https://portal.westus.azurestack.external"}, "portal_url", "https://portal.local."),
    ({"portal_url": "https://portal.local."}, "portal_url", "followed by the hub's domain"),
    ({"identity_system": "aad"}, "identity_system", "`azure_ad` or `adfs`"),
    ({"client_id": "ops-team"}, "client_id", "a UUID"),
    ({"dns_prefix": "1cluster"}, "dns_prefix", "starting with a letter"),
    ({"dns_prefix": "ab"}, "dns_prefix", "3 to 45"),
    ({"dns_prefix": "a" * 46}, "dns_prefix", "3 to 45"),
    ({"dns_prefix": "cluster-"}, "dns_prefix", "ending with a letter or digit"),
    ({"agent_pool_name": "Pool1"}, "agent_pool_name", "lowercase letter"),
    ({"agent_pool_name": "linuxpool0001"}, "agent_pool_name", "at most 11"),
    ({"master_count": 1}, "master_count", "3 or 5"),
    ({"master_count": 4}, "master_count", "AKS Engine allows 1, 3 or 5"),
    ({"agent_count": 1}, "agent_count", "at least 2 worker nodes"),
    ({"master_vm_size": "DS2_v2"}, "master_vm_size", "VM size name"),
    ({"agent_vm_size": "Standard DS3"}, "agent_vm_size", "VM size name"),
    ({"kubernetes_version": "1.32.9"}, "kubernetes_version", "one of 1.33.10, 1.34.4, 1.35.0"),
    ({"kubernetes_version": "1.35"}, "kubernetes_version", "v0.85.0"),
    ({"network_plugin": "kubenet"}, "network_plugin", "route table"),
    ({"network_plugin": "cilium"}, "network_plugin", "second owner"),
    ({"distro": "aks-ubuntu-20.04"}, "distro", "aks-ubuntu-22.04"),
    ({"max_pods": 4}, "max_pods", "between 5 and 250"),
    ({"max_pods": 251}, "max_pods", "between 5 and 250"),
    ({"admin_username": "root"}, "admin_username", "not admin, root"),
    ({"admin_username": "Ops User"}, "admin_username", "Linux user name"),
    ({"ssh_public_key": "ssh-ed25519 AAAAC3Nza ops@example"}, "ssh_public_key", "RSA keys only"),
    ({"agent_count": 47}, "agent_count", "50 nodes per subscription"),
    ({"resource_group": "bad/name"}, "resource_group", "not ending with a period"),
    ({"resource_group": "rg."}, "resource_group", "not ending with a period"),
    ({"resource_group": "NETWORK-RG"}, "resource_group", "other than the VNet's"),
    ({"subnet_id": "hub-vnet/k8s"}, "subnet_id", "/virtualNetworks/<vnet>/subnets/<subnet>"),
    ({"vnet_cidr": "10.100.0.0/33"}, "vnet_cidr", "IPv4 network"),
    ({"vnet_cidr": "10.100.0.1/16"}, "vnet_cidr", "IPv4 network"),
    ({"subnet_cidr": "10.200.0.0/22"}, "subnet_cidr", "inside vnet_cidr 10.100.0.0/16"),
    ({"subnet_cidr": "fd00::/64"}, "subnet_cidr", "IPv4 network"),
    ({"first_consecutive_static_ip": "10.100.3.250"}, "first_consecutive_static_ip", "e.g. 10.100.3.239"),
    ({"first_consecutive_static_ip": "10.100.0.2"}, "first_consecutive_static_ip", "Azure reserves the first four"),
    ({"first_consecutive_static_ip": "10.101.0.10"}, "first_consecutive_static_ip", "an address in 10.100.0.0/22"),
    ({"first_consecutive_static_ip": "10.100.3"}, "first_consecutive_static_ip", "an IPv4 address"),
    (
        {"subnet_cidr": "10.100.0.0/25", "first_consecutive_static_ip": "10.100.0.100"},
        "subnet_cidr",
        "but the cluster needs 7 (3 masters, 3 workers, 1 upgrade surge)",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), RULES, ids=[f"{r[1]}:{r[2]}" for r in RULES])
def test_each_rule_is_reported_with_its_explanation(overrides: dict[str, Any], field: str, message: str) -> None:
    problems = validate(make_settings(**overrides))
    matching = [p for p in problems if p.field == field]
    assert matching, f"no problem for {field} in {problems}"
    assert any(message in p.allowed for p in matching), [p.allowed for p in matching]
    assert all(p.value is not None for p in matching)


def test_subnet_must_be_in_the_cluster_subscription() -> None:
    other = "99999999-2222-3333-4444-555555555555"
    subnet = make_settings().subnet_id.replace(SUBSCRIPTION, other)
    problems = validate(make_settings(subnet_id=subnet))
    assert fields_of(problems) == ["subnet_id"]
    assert "azure.json names one subscription" in problems[0].allowed


def test_subscription_id_must_be_a_uuid() -> None:
    problems = validate(make_settings(subscription_id="prod"))
    assert "subscription_id" in fields_of(problems)


def test_every_broken_rule_is_reported_at_once() -> None:
    problems = validate(
        make_settings(master_count=2, agent_count=1, dns_prefix="-x", network_plugin="kubenet", max_pods=1)
    )
    assert sorted(fields_of(problems)) == ["agent_count", "dns_prefix", "master_count", "max_pods", "network_plugin"]
    assert all(str(p).startswith(f"{p.field}=") for p in problems)


def test_node_budget_counts_other_clusters_in_the_subscription() -> None:
    settings = make_settings(master_count=3, agent_count=3)  # 3 + 3 + 1 surge VM
    assert validate(settings, other_nodes_in_subscription=43) == []
    problems = validate(settings, other_nodes_in_subscription=44)
    assert fields_of(problems) == ["agent_count"]
    assert "(51)" in problems[0].allowed
    assert fields_of(validate(settings, other_nodes_in_subscription=-1)) == ["other_nodes_in_subscription"]


def test_a_running_cluster_may_keep_a_version_new_clusters_cannot_use() -> None:
    old = make_settings(kubernetes_version="1.32.9")
    assert validate(old, current_version="1.32.9") == []
    assert fields_of(validate(old, current_version="1.31.13")) == ["kubernetes_version"]


def test_hub_domain_comes_from_the_portal_url() -> None:
    assert hub_domain(make_settings()) == "azurestack.external"
    assert hub_domain(make_settings(portal_url="https://portal.local.azurestack.external/")) == "azurestack.external"
    assert hub_domain(make_settings(portal_url="https://adminportal.local.azurestack.external")) == ""


def test_settings_round_trip_through_json() -> None:
    settings = make_settings(identity_system="adfs", max_pods=50)
    assert settings_from_dict(json.loads(json.dumps(settings_to_dict(settings)))) == settings


def test_settings_from_dict_names_every_bad_key() -> None:
    data = settings_to_dict(make_settings())
    del data["location"]
    data["agent_count"] = "3"
    data["run_unattended_upgrades_on_bootstrap"] = 1
    data["identity_system"] = "ldap"
    data["colour"] = "blue"
    with pytest.raises(ValueError, match="invalid cluster settings") as raised:
        settings_from_dict(data)
    message = str(raised.value)
    for part in (
        "unknown key 'colour'",
        "missing key 'location'",
        "agent_count: must be an integer",
        "run_unattended_upgrades_on_bootstrap: must be true or false",
        "identity_system: must be one of 'azure_ad', 'adfs'",
    ):
        assert part in message
    with pytest.raises(ValueError, match="JSON object"):
        settings_from_dict(["not", "an", "object"])


def test_optional_settings_have_defaults() -> None:
    data = settings_to_dict(make_settings())
    for key in ("kubernetes_version", "master_count", "agent_pool_name", "distro", "network_plugin", "max_pods"):
        del data[key]
    settings = settings_from_dict(data)
    assert (settings.kubernetes_version, settings.master_count, settings.network_plugin) == ("1.33.10", 3, "azure")
    assert settings.distro == "aks-ubuntu-22.04"
    assert settings.run_unattended_upgrades_on_bootstrap is False


# -- the built model -----------------------------------------------------------------------------------


@pytest.fixture
def model() -> dict[str, Any]:
    return build_apimodel(make_settings(identity_system="adfs", kubernetes_version="1.34.4"))


def test_model_identifies_the_hub(model: dict[str, Any]) -> None:
    assert model["apiVersion"] == "vlabs"
    assert model["location"] == "local"
    assert model["properties"]["customCloudProfile"] == {
        "portalURL": "https://portal.local.azurestack.external",
        "identitySystem": "adfs",
    }


def test_model_orchestrator_follows_hub_rules(model: dict[str, Any]) -> None:
    orchestrator = model["properties"]["orchestratorProfile"]
    assert orchestrator["orchestratorRelease"] == "1.34"
    assert orchestrator["orchestratorVersion"] == "1.34.4"
    k8s = orchestrator["kubernetesConfig"]
    assert k8s["networkPlugin"] == "azure"
    # The app's NetworkPolicies are only enforced with a policy engine; Azure NPM is the hub's.
    assert k8s["networkPolicy"] == "azure"
    assert k8s["containerRuntime"] == "containerd"
    assert k8s["useCloudControllerManager"] is True
    assert k8s["useInstanceMetadata"] is False
    assert k8s["loadBalancerSku"] == "Basic"
    assert k8s["maxPods"] == 30
    assert {"name": AZURE_DISK_CSI_ADDON, "enabled": True} in k8s["addons"]


def test_model_control_plane_uses_availability_set_in_the_custom_vnet(model: dict[str, Any]) -> None:
    settings = make_settings()
    assert model["properties"]["masterProfile"] == {
        "count": 3,
        "dnsPrefix": "ratings-east",
        "vmSize": "Standard_DS2_v2",
        "distro": "aks-ubuntu-22.04",
        "availabilityProfile": "AvailabilitySet",
        "vnetSubnetID": settings.subnet_id,
        "firstConsecutiveStaticIP": "10.100.3.239",
        "vnetCidr": "10.100.0.0/16",
    }


def test_model_has_one_worker_pool_fit_for_a_hub(model: dict[str, Any]) -> None:
    (pool,) = model["properties"]["agentPoolProfiles"]
    assert pool == {
        "name": "linuxpool",
        "count": 3,
        "vmSize": "Standard_DS3_v2",
        "distro": "aks-ubuntu-22.04",
        "osType": "Linux",
        "availabilityProfile": "AvailabilitySet",
        "acceleratedNetworkingEnabled": False,
        "vnetSubnetID": make_settings().subnet_id,
    }


def test_model_linux_profile_does_not_patch_on_bootstrap(model: dict[str, Any]) -> None:
    assert model["properties"]["linuxProfile"] == {
        "adminUsername": "azureuser",
        "ssh": {"publicKeys": [{"keyData": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 ops@example"}]},
        "runUnattendedUpgradesOnBootstrap": False,
        "enableUnattendedUpgrades": True,
    }


def test_model_holds_no_secret_until_the_lifecycle_fills_it(model: dict[str, Any]) -> None:
    profile = model["properties"]["servicePrincipalProfile"]
    assert profile == {"clientId": make_settings().client_id, "secret": SERVICE_PRINCIPAL_SECRET_PLACEHOLDER}
    assert CLIENT_SECRET not in json.dumps(model)
    assert "certificateProfile" not in model["properties"]
    filled = with_service_principal_secret(model, CLIENT_SECRET)
    assert filled["properties"]["servicePrincipalProfile"]["secret"] == CLIENT_SECRET
    assert model["properties"]["servicePrincipalProfile"]["secret"] == SERVICE_PRINCIPAL_SECRET_PLACEHOLDER
    with pytest.raises(ValueError, match="empty"):
        with_service_principal_secret(model, "")


def test_built_model_keeps_every_hub_invariant(model: dict[str, Any]) -> None:
    assert validate_apimodel(model) == []


def _set(model: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(model)
    node: Any = broken
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    node[keys[-1]] = value
    return broken


INVARIANTS = [
    ("properties.masterProfile.availabilityProfile", "VirtualMachineScaleSets", "AvailabilitySet"),
    ("properties.agentPoolProfiles.0.availabilityProfile", "", "set explicitly"),
    ("properties.agentPoolProfiles.0.acceleratedNetworkingEnabled", True, "no accelerated networking"),
    ("properties.orchestratorProfile.kubernetesConfig.useInstanceMetadata", True, "instance metadata"),
    ("properties.orchestratorProfile.kubernetesConfig.networkPlugin", "cilium", "`azure` or `kubenet`"),
    ("properties.orchestratorProfile.kubernetesConfig.networkPolicy", "calico", "unset or `azure`"),
    ("properties.orchestratorProfile.kubernetesConfig.useCloudControllerManager", False, "in-tree"),
    ("properties.orchestratorProfile.kubernetesConfig.containerRuntime", "docker", "containerd"),
    ("properties.orchestratorProfile.kubernetesConfig.loadBalancerSku", "Standard", "Basic"),
    ("properties.customCloudProfile.portalURL", "https://portal.other.example", "https://portal.local."),
    ("properties.customCloudProfile.identitySystem", "ldap", "`azure_ad` or `adfs`"),
    ("properties.masterProfile.count", 2, "1, 3 or 5"),
    (
        "properties.agentPoolProfiles.0.vnetSubnetID",
        "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/other/subnets/z",
        "all pools in one VNet",
    ),
]


@pytest.mark.parametrize(("path", "value", "message"), INVARIANTS, ids=[i[0].rsplit(".", 1)[1] for i in INVARIANTS])
def test_broken_hub_invariants_are_found(model: dict[str, Any], path: str, value: Any, message: str) -> None:
    problems = validate_apimodel(_set(model, path, value))
    assert len(problems) == 1
    assert message in problems[0].allowed
    assert problems[0].field == path.replace(".0.", "[0].")


def test_azure_network_policy_needs_azure_cni(model: dict[str, Any]) -> None:
    (problem,) = validate_apimodel(
        _set(model, "properties.orchestratorProfile.kubernetesConfig.networkPlugin", "kubenet")
    )
    assert problem.field == "properties.orchestratorProfile.kubernetesConfig.networkPolicy"
    assert "needs networkPlugin `azure`" in problem.allowed


def test_settings_are_a_frozen_record() -> None:
    settings = make_settings()
    assert isinstance(settings, ClusterSettings)
    with pytest.raises(AttributeError):
        settings.agent_count = 5  # type: ignore[misc]
