"""Replica sizing against the workers, and the Mongo replica set's quorum arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from planning.egress import EgressProxy
from tests.workloads.sizing_checks import parse_cpu, parse_memory, parse_resources, pods_fit
from workloads.egress import NodeProxySettings, node_manifests
from workloads.mongo import (
    connection_uri,
    majority,
    member_hosts,
    members_for,
    mongod_args,
    pdb_min_available,
)
from workloads.platform_values import platform_pods
from workloads.ratings import (
    API,
    API_RESOURCES,
    MIN_REPLICAS,
    MONGODB,
    REPLICAS_CAP,
    WEB,
    WEB_RESOURCES,
    app_sizing,
    mongodb_pod_requests,
)
from workloads.sizing import (
    NODE_EGRESS_REQUESTS,
    VM_SIZES,
    Autoscaled,
    FixedPods,
    InsufficientCapacityError,
    Resources,
    autoscaled_maxima,
    daemonset_overhead,
    node_allocatable,
    schedulable_per_worker,
    vm_size,
)

# --- quantities and node capacity --------------------------------------------------------------------------


def test_quantities_parse_like_kubernetes() -> None:
    assert [parse_cpu(q) for q in ("250m", "1", "0.5", "2")] == [250, 1000, 500, 2000]
    assert [parse_memory(q) for q in ("64Mi", "1Gi", "512Ki", "1G")] == [64, 1024, 1, 954]
    assert parse_resources("500m", "256Mi") == Resources(500, 256)
    with pytest.raises(ValueError, match="memory quantity"):
        parse_memory("lots")


@pytest.mark.parametrize(
    ("size", "allocatable"),
    [
        # 2 vCPU, 7 GiB: 100m kube-reserved; 25% of 4 GiB + 20% of 3 GiB + 750 MiB eviction = 2389 MiB.
        ("Standard_DS2_v2", Resources(1900, 4779)),
        # 4 vCPU, 14 GiB: 140m; 1024 + 819.2 + 614.4 MiB (10% of the 6 GiB above 8) + 750 MiB eviction.
        ("Standard_DS3_v2", Resources(3860, 11128)),
        ("Standard_DS4_v2", Resources(7820, 24522)),
    ],
)
def test_node_allocatable_follows_the_reservation_model(size: str, allocatable: Resources) -> None:
    assert node_allocatable(vm_size(size)) == allocatable


def test_an_unknown_vm_size_is_named_with_the_known_ones() -> None:
    with pytest.raises(KeyError, match="Standard_DS2_v2"):
        vm_size("Standard_A0")


# --- HPA maxima --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "workers", "members", "api", "web"),
    [
        ("Standard_DS2_v2", 2, 1, 6, 6),
        ("Standard_DS2_v2", 3, 3, 8, 10),
        ("Standard_DS2_v2", 4, 3, 10, 10),
        ("Standard_DS3_v2", 2, 1, 10, 10),
        ("Standard_DS3_v2", 3, 3, 10, 10),
    ],
)
def test_hpa_maxima_for_common_hub_sizes(size: str, workers: int, members: int, api: int, web: int) -> None:
    sizing = app_sizing(size, workers)
    assert (sizing.mongodb_members, sizing.api_max_replicas, sizing.web_max_replicas) == (members, api, web)


@pytest.mark.parametrize("size", sorted(VM_SIZES))
@pytest.mark.parametrize("workers", [2, 3, 4, 6])
def test_every_pod_at_the_hpa_maxima_fits_the_workers(size: str, workers: int) -> None:
    sizing = app_sizing(size, workers)
    everything = [
        *platform_pods(workers, log_shipping=True),
        FixedPods(MONGODB, mongodb_pod_requests(), sizing.mongodb_members, one_per_node=True),
        FixedPods(API, API_RESOURCES.requests, sizing.api_max_replicas),
        FixedPods(WEB, WEB_RESOURCES.requests, sizing.web_max_replicas),
    ]
    assert pods_fit(vm_size(size), workers, everything)
    assert MIN_REPLICAS <= sizing.api_max_replicas <= REPLICAS_CAP
    assert MIN_REPLICAS <= sizing.web_max_replicas <= REPLICAS_CAP


def test_maxima_stop_where_the_workers_end() -> None:
    size = vm_size("Standard_DS2_v2")
    free = schedulable_per_worker(size)
    pod = Resources(free.cpu_millicores // 4, 64)
    # Four per node by CPU: two nodes hold eight, whatever the cap.
    assert autoscaled_maxima(size, 2, [], [Autoscaled("app", pod, 1, 100)]) == {"app": 8}
    assert autoscaled_maxima(size, 2, [], [Autoscaled("app", pod, 1, 5)]) == {"app": 5}


def test_pods_are_placed_per_node_not_as_one_pool() -> None:
    size = vm_size("Standard_DS2_v2")
    free = schedulable_per_worker(size)
    # Two pods each needing 60% of a node fit two nodes, never one; one per node on a single node fails.
    big = Resources(free.cpu_millicores * 6 // 10, 100)
    assert pods_fit(size, 2, [FixedPods("big", big, 2)])
    assert not pods_fit(size, 1, [FixedPods("big", big, 2)])
    assert not pods_fit(size, 2, [FixedPods("member", Resources(10, 10), 3, one_per_node=True)])


def test_fixed_pods_or_minimums_that_do_not_fit_are_an_error() -> None:
    size = vm_size("Standard_DS2_v2")
    with pytest.raises(InsufficientCapacityError, match="do not fit"):
        autoscaled_maxima(size, 1, [FixedPods("huge", Resources(10_000, 1), 1)], [])
    with pytest.raises(InsufficientCapacityError, match="minimum"):
        autoscaled_maxima(size, 1, [], [Autoscaled("wide", Resources(1500, 1), 2, 10)])
    with pytest.raises(ValueError, match="odd number"):
        app_sizing("Standard_DS2_v2", 3, mongodb_members=2)


# --- Mongo -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("workers", "members"), [(1, 1), (2, 1), (3, 3), (7, 3)])
def test_members_sit_on_distinct_workers_and_are_odd(workers: int, members: int) -> None:
    assert members_for(workers) == members


@pytest.mark.parametrize(("members", "quorum"), [(1, 1), (3, 2), (5, 3), (7, 4)])
def test_the_pdb_keeps_a_voting_majority_through_a_node_drain(members: int, quorum: int) -> None:
    min_available = pdb_min_available(members)
    assert majority(members) == quorum
    assert min_available == quorum
    # Evicting down to minAvailable never leaves fewer than a majority...
    assert min_available >= members // 2 + 1
    # ...and with three or more members a drain can still evict one, so reboots are not blocked.
    if members >= 3:
        assert members - min_available >= 1


def test_the_connection_uri_lists_every_member_and_escapes_credentials() -> None:
    hosts = member_hosts(3, "ratings-mongodb", "ratings-mongodb", "ratingsapp")
    assert hosts == [f"ratings-mongodb-{i}.ratings-mongodb.ratingsapp.svc.cluster.local:27017" for i in range(3)]
    assert connection_uri("ratings", "p@ss/word", hosts[:1]) == (
        "mongodb://ratings:p%40ss%2Fword@ratings-mongodb-0.ratings-mongodb.ratingsapp.svc.cluster.local:27017"
        "/ratingsdb?replicaSet=rs0&authSource=ratingsdb"
    )


def test_mongod_runs_the_replica_set_with_the_keyfile_and_a_bounded_cache() -> None:
    args = mongod_args("/keys/keyfile", 0.25)
    assert args[args.index("--replSet") + 1] == "rs0"
    assert args[args.index("--keyFile") + 1] == "/keys/keyfile"
    assert args[args.index("--wiredTigerCacheSizeGB") + 1] == "0.25"
    assert "--bind_ip_all" in args


# --- the egress proxy's node configurator --------------------------------------------------------------------


def _requests(container: dict[str, Any]) -> Resources:
    wanted = container["resources"]["requests"]
    return parse_resources(wanted["cpu"], wanted["memory"])


def test_the_node_configurator_is_counted_as_the_scheduler_counts_its_pod() -> None:
    settings = NodeProxySettings(EgressProxy("http://10.250.0.10:3128"), ("localhost",), "10.10.3.224/28")
    (daemon_set,) = [o for o in node_manifests(settings) if o["kind"] == "DaemonSet"]
    pod = daemon_set["spec"]["template"]["spec"]
    # A pod's requests: per resource, the larger of its biggest init container and the sum of its containers.
    init = [_requests(c) for c in pod["initContainers"]]
    running = [_requests(c) for c in pod["containers"]]
    summed = Resources(sum(r.cpu_millicores for r in running), sum(r.memory_mib for r in running))
    effective = Resources(
        max([summed.cpu_millicores, *(r.cpu_millicores for r in init)]),
        max([summed.memory_mib, *(r.memory_mib for r in init)]),
    )
    assert NODE_EGRESS_REQUESTS == effective == Resources(10, 32)
    assert daemonset_overhead(egress_proxy=True) - daemonset_overhead() == NODE_EGRESS_REQUESTS


def test_behind_a_proxy_each_worker_holds_the_configurator_too() -> None:
    size = vm_size("Standard_DS2_v2")
    free = schedulable_per_worker(size)
    assert free - schedulable_per_worker(size, egress_proxy=True) == NODE_EGRESS_REQUESTS
    # Pods that take exactly what is left on two workers fit without the configurator, and not with it.
    filling = [FixedPods("filling", free, 2, one_per_node=True)]
    assert pods_fit(size, 2, filling)
    assert not pods_fit(size, 2, filling, egress_proxy=True)
    pod = Resources(free.cpu_millicores // 4, 64)
    assert autoscaled_maxima(size, 2, [], [Autoscaled("app", pod, 1, 100)], egress_proxy=True) == {"app": 6}
