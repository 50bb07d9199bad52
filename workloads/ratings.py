"""The ratings application's fixed facts and its replica sizing.

Ports and environment come from the workshop's sources (MicrosoftDocs/mslearn-aks-workshop-ratings-api and
-ratings-web): the API listens on 3000 and reads `MONGODB_URI`, `GET /healthz` answers 200 only while MongoDB is
reachable; the web front end listens on 8080, proxies `/api` to `API` and has no health endpoint. `API` carries no
port, so the API's Service listens on 80 and forwards to 3000.

Requests follow the workshop (API 250m/64Mi, limits 500m/256Mi; web limits 500m/512Mi) with a web request sized for
webpack-dev-server, which the web image runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.mongo import members_for
from workloads.platform_values import platform_pods
from workloads.sizing import Autoscaled, ContainerResources, FixedPods, Resources, autoscaled_maxima, vm_size

NAMESPACE = "ratingsapp"
API = "ratings-api"
WEB = "ratings-web"
MONGODB = "ratings-mongodb"
API_PORT = 3000
WEB_PORT = 8080
SERVICE_PORT = 80
API_URL = f"http://{API}.{NAMESPACE}.svc.cluster.local"
"""The web front end's `API` (scheme included, no port: the Service listens on 80)."""

REPLICAS_CAP = 10
"""The workshop's HPA maximum; more would fit a large cluster but is not wanted."""
MIN_REPLICAS = 2
"""Two replicas on two nodes: a node drain or failure leaves one serving."""
API_CPU_TARGET = 30
"""HPA average CPU utilisation target of the API, percent of requests (the workshop's)."""
WEB_CPU_TARGET = 50
"""HPA average CPU utilisation target of the web front end, percent of requests."""


API_RESOURCES = ContainerResources(Resources(250, 64), Resources(500, 256))
WEB_RESOURCES = ContainerResources(Resources(100, 256), Resources(500, 512))
MONGOD_RESOURCES = ContainerResources(Resources(250, 768), Resources(1000, 1024))
MONGOD_CACHE_GIB = 0.25
"""WiredTiger cache, well inside the 1 GiB limit (mongod also needs memory for connections and mongosh probes)."""
MEMBER_RESOURCES = ContainerResources(Resources(10, 96), Resources(200, 256))
"""The `member` container: mongosh while joining, `sleep` afterwards."""
INIT_RESOURCES = ContainerResources(Resources(10, 16), Resources(100, 64))


def mongodb_pod_requests() -> Resources:
    """Requests of one Mongo member pod (its init container runs alone first and asks for less)."""
    return MONGOD_RESOURCES.requests + MEMBER_RESOURCES.requests


@dataclass(frozen=True)
class AppSizing:
    """Replica counts of the application on one cluster."""

    mongodb_members: int
    """Replica-set members (one per worker)."""
    api_max_replicas: int
    """The API HPA's maximum."""
    web_max_replicas: int
    """The web HPA's maximum."""


def app_sizing(
    worker_vm_size: str, workers: int, *, mongodb_members: int | None = None, log_shipping: bool = True
) -> AppSizing:
    """Members and HPA maxima such that the platform, the database and both HPAs at their maxima fit the workers."""
    members = members_for(workers) if mongodb_members is None else mongodb_members
    if members % 2 == 0 or members > workers:
        raise ValueError(f"{members} Mongo members: need an odd number, at most one per worker ({workers})")
    fixed = [
        *platform_pods(workers, log_shipping=log_shipping),
        FixedPods(MONGODB, mongodb_pod_requests(), members, one_per_node=True),
    ]
    maxima = autoscaled_maxima(
        vm_size(worker_vm_size),
        workers,
        fixed,
        [
            Autoscaled(API, API_RESOURCES.requests, MIN_REPLICAS, REPLICAS_CAP),
            Autoscaled(WEB, WEB_RESOURCES.requests, MIN_REPLICAS, REPLICAS_CAP),
        ],
    )
    return AppSizing(members, maxima[API], maxima[WEB])
