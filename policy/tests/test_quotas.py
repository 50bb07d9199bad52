"""hub-quotas: the arithmetic against hand-computed figures, then the policy on real stacks changed to break it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policy.stackhub_policies import hub_facts
from policy.stackhub_policies.clusters import Cluster, Pool
from policy.stackhub_policies.hub_facts import QuotaName
from policy.stackhub_policies.quotas import DiskSettings, Usage, cluster_usage, over_quota, stack_usage
from policy.stackhub_policies.reporting import Subject

from .stacks import detail, evaluate_registrations, mutated, of_policy, shipped, stack_config
from .subjects import stack_subjects

COMMAND = Subject("command:local:Command", "cluster", "urn:cluster", {})


def cluster(masters: int, master_size: str, workers: int, worker_size: str) -> Cluster:
    return Cluster(COMMAND, "test", masters, master_size, (Pool("pool", workers, worker_size),), "1.33.10")


# masters, master size, workers, worker size, disk settings ->
#   VMs, cores, NICs, availability sets, public IPs, LBs, NSGs, premium GB, standard GB   (worked by hand)
CASES: list[tuple[tuple[int, str, int, str], DiskSettings, tuple[int, ...]]] = [
    # The shipped hubs: 7 VMs (3 + 3 + the upgrade's); cores 3x2 + 3x4 + 4 (the largest size surges);
    # 6 nodes > 3 -> 512 GB etcd disks: 7 x 30 + 3 x 512 = 1746 GB premium (DSv2 is a premium family).
    ((3, "Standard_DS2_v2", 3, "Standard_DS3_v2"), DiskSettings(), (7, 22, 7, 2, 1, 2, 1, 1746, 0)),
    # Five masters: 8 nodes, still 512 GB each: 9 x 30 + 5 x 512 = 2830 GB, over a default quota by itself.
    ((5, "Standard_DS2_v2", 3, "Standard_DS3_v2"), DiskSettings(), (9, 26, 9, 2, 1, 2, 1, 2830, 0)),
    # 11 nodes: the etcd disks jump to 1023 GB: 12 x 30 + 3 x 1023 = 3429 GB.
    ((3, "Standard_DS2_v2", 8, "Standard_DS3_v2"), DiskSettings(), (12, 42, 12, 2, 1, 2, 1, 3429, 0)),
    # Exactly 3 nodes (no workers): 256 GB etcd disks: 4 x 30 + 3 x 256 = 888.
    ((3, "Standard_DS2_v2", 0, "Standard_DS2_v2"), DiskSettings(), (4, 8, 4, 2, 1, 2, 1, 888, 0)),
    # Families without an `s` get standard disks: 6 x 30 + 3 x 512 = 1716 GB standard; cores 6 + 8 + 4.
    ((3, "Standard_D2_v2", 2, "Standard_D3_v2"), DiskSettings(), (6, 18, 6, 2, 1, 2, 1, 0, 1716)),
    # Mixed: master OS and etcd disks premium (3 x 30 + 3 x 512), worker and upgrade OS disks standard (4 x 30).
    ((3, "Standard_DS2_v2", 3, "Standard_D3_v2"), DiskSettings(), (7, 22, 7, 2, 1, 2, 1, 1626, 120)),
    # The larger size surges even when it is the masters': 3 x 4 + 3 x 2 + 4.
    ((3, "Standard_DS3_v2", 3, "Standard_DS2_v2"), DiskSettings(), (7, 22, 7, 2, 1, 2, 1, 1746, 0)),
    # Settings: 64 GB OS disks (7 x 64 + 1536), 128 GB etcd disks (210 + 3 x 128), everything standard.
    ((3, "Standard_DS2_v2", 3, "Standard_DS3_v2"), DiskSettings(os_disk_gb=64), (7, 22, 7, 2, 1, 2, 1, 1984, 0)),
    ((3, "Standard_DS2_v2", 3, "Standard_DS3_v2"), DiskSettings(etcd_disk_gb=128), (7, 22, 7, 2, 1, 2, 1, 594, 0)),
    ((3, "Standard_DS2_v2", 3, "Standard_DS3_v2"), DiskSettings(tier="standard"), (7, 22, 7, 2, 1, 2, 1, 0, 1746)),
    # One master: no internal load balancer.
    ((1, "Standard_DS2_v2", 2, "Standard_DS2_v2"), DiskSettings(), (4, 8, 4, 2, 1, 1, 1, 120 + 256, 0)),
]
QUOTAS: tuple[QuotaName, ...] = ("virtualMachines", "cores", "networkInterfaces", "availabilitySets",
                                  "publicIpAddresses", "loadBalancers", "networkSecurityGroups", "premiumDiskGb",
                                  "standardDiskGb")  # fmt: skip


@pytest.mark.parametrize(("shape", "disks", "expected"), CASES)
def test_a_clusters_usage_is_the_hand_computed_figure(
    shape: tuple[int, str, int, str], disks: DiskSettings, expected: tuple[int, ...]
) -> None:
    usage = Usage()
    cluster_usage(cluster(*shape), dict(hub_facts.VM_SIZES), disks, usage)
    assert tuple(usage.needed[q] for q in QUOTAS) == expected


def test_the_figures_of_a_shipped_hub_add_the_stacks_own_resources() -> None:
    usage, unreadable = stack_usage(stack_subjects(shipped("hub-seattle")), dict(hub_facts.VM_SIZES), DiskSettings())
    assert unreadable == []
    assert usage.needed == {
        "virtualMachines": 7,
        "cores": 22,
        "availabilitySets": 2,
        "publicIpAddresses": 2,  # the ingress IP (ARM) and the API server's
        "loadBalancers": 3,  # the API server's, the masters' internal one, the Kubernetes one
        "networkInterfaces": 7,
        "virtualNetworks": 1,
        "networkSecurityGroups": 2,  # the hub network's and AKS Engine's
        "standardDiskGb": 0,
        "premiumDiskGb": 1794,  # 1746 for the cluster + 3 x 16 GB database volumes (Premium_LRS class)
    }


def figures(every: int | None = None, **changes: int) -> dict[str, int]:
    """Quota figures: the hub's defaults (or `every` for all), with some changed."""
    base = {str(k): v if every is None else every for k, v in hub_facts.DEFAULT_QUOTAS.items()}
    return {**base, **changes}


def test_an_exceeded_quota_names_the_figure_its_parts_and_what_the_quota_leaves() -> None:
    usage = Usage()
    cluster_usage(cluster(3, "Standard_DS2_v2", 3, "Standard_DS3_v2"), dict(hub_facts.VM_SIZES), DiskSettings(), usage)
    quota, used = figures(cores=30), figures(0, cores=10)
    assert over_quota(usage, quota, used) == [
        "cores: this stack needs 22 (3 x master Standard_DS2_v2 (2 vCPU) = 6; 3 x pool worker Standard_DS3_v2 "
        "(4 vCPU) = 12; 1 x upgrade Standard_DS3_v2 (4 vCPU) = 4) but the quota leaves 20 (30 quota - 10 already used)"
    ]


def test_a_disk_whose_tier_is_unknown_fails_only_a_quota_it_could_exceed() -> None:
    usage = Usage()
    usage.add_disk("premium", 1000, "known")
    usage.add_disk(None, 100, "volume")
    quota, used = figures(), figures(0)
    assert over_quota(usage, quota, used) == []
    used["premiumDiskGb"] = 1000
    (message,) = over_quota(usage, quota, used)
    assert message.startswith("cannot verify GB of premium managed disk: this stack needs 1000 (known) plus up to 100")


def _set_desired(**settings: Any) -> Any:
    def change(inputs: dict[str, Any]) -> None:
        document = json.loads(inputs["environment"]["AKSENGINE_DESIRED"])
        document["settings"].update(settings)
        inputs["environment"]["AKSENGINE_DESIRED"] = json.dumps(document)

    return change


def quota_findings(registrations: Any, config: dict[str, Any] | None = None) -> list[str]:
    found = evaluate_registrations(registrations, config or stack_config("hub-seattle"))
    return [detail(e) for e in of_policy(found, "hub-quotas")]


def test_a_larger_cluster_breaks_the_cores_and_premium_disk_quotas() -> None:
    grown = mutated(shipped("hub-seattle").resources, "hub-seattle-aks-engine", _set_desired(agent_count=25))
    findings = quota_findings(grown)
    assert [f.split(":")[0] for f in findings] == ["cores", "GB of premium managed disk"]
    assert "this stack needs 110 (" in findings[0]  # 3 x 2 + 25 x 4 + 4
    assert "but the quota leaves 100 (100 quota - 0 already used)" in findings[0]
    # 28 nodes: 1023 GB etcd disks; 29 x 30 + 3 x 1023 + 3 x 16 = 3987.
    assert "this stack needs 3987 (" in findings[1]


def test_what_the_subscription_already_uses_comes_off_the_quota() -> None:
    config = stack_config("hub-seattle")
    config["hub-quotas"]["used"]["premiumDiskGb"] = 300
    (finding,) = quota_findings(shipped("hub-seattle").resources, config)
    assert finding.startswith("GB of premium managed disk: this stack needs 1794 (")
    assert finding.endswith("but the quota leaves 1748 (2048 quota - 300 already used)")


def test_bigger_database_volumes_count_against_the_class_tier() -> None:
    def bigger(inputs: dict[str, Any]) -> None:
        inputs["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "200Gi"

    (finding,) = quota_findings(mutated(shipped("hub-seattle").resources, "hub-seattle-mongodb", bigger))
    assert "3 x 'ratings-mongodb' volume (200 GB) = 600" in finding
    assert finding.startswith("GB of premium managed disk: this stack needs 2346 (")


def test_a_size_the_hub_table_lacks_is_reported_until_the_config_adds_it() -> None:
    dsv3 = mutated(shipped("hub-seattle").resources, "hub-seattle-aks-engine",
                   _set_desired(agent_vm_size="Standard_D4s_v3"))  # fmt: skip
    (finding,) = quota_findings(dsv3)
    assert "VM size 'Standard_D4s_v3' is not in the hub's size table" in finding
    config = stack_config("hub-seattle")
    config["hub-quotas"]["extraVmSizes"] = {"Standard_D4s_v3": {"vcpus": 4, "memoryGib": 16, "maxDataDisks": 8}}
    assert quota_findings(dsv3, config) == []


def test_a_loadbalancer_service_without_an_address_adds_a_public_ip() -> None:
    def expose(inputs: dict[str, Any]) -> None:
        inputs["spec"]["type"] = "LoadBalancer"

    config = stack_config("hub-seattle")
    config["hub-quotas"]["quota"]["publicIpAddresses"] = 2
    registrations = shipped("hub-seattle").resources
    assert quota_findings(registrations, config) == []
    (finding,) = quota_findings(mutated(registrations, "hub-seattle-ratings-web-svc", expose), config)
    assert finding.startswith("public IP addresses: this stack needs 3 (API server frontend; public IP ")
    assert "LoadBalancer 'hub-seattle-ratings-web-svc' spec" in finding


def test_more_database_volumes_than_the_workers_can_attach_are_reported() -> None:
    def replicas(inputs: dict[str, Any]) -> None:
        inputs["spec"]["replicas"] = 49  # 3 DS3_v2 workers attach 16 data disks each: 48

    config = stack_config("hub-seattle")
    config["hub-quotas"]["quota"]["premiumDiskGb"] = 100_000
    registrations = mutated(shipped("hub-seattle").resources, "hub-seattle-mongodb", replicas)
    assert quota_findings(registrations, config) == [
        "data disks: this stack's database volumes need 49 attached but the workers can attach at most 48 (each VM "
        "size's maximum data disks, hub_facts.VM_SIZES)"
    ]
    assert quota_findings(mutated(registrations, "hub-seattle-mongodb", lambda i: i["spec"].update(replicas=48)),
                          config) == []  # fmt: skip
