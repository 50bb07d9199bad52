"""The ratings application's fixed facts and its replica sizing.

Ports and environment come from the workshop's sources (MicrosoftDocs/mslearn-aks-workshop-ratings-api and
-ratings-web): the API listens on 3000 and reads `MONGODB_URI`, `GET /healthz` answers 200 only while MongoDB is
reachable; the web front end listens on 8080, proxies `/api` to `API` and has no health endpoint. `API` carries no
port, so the API's Service listens on 80 and forwards to 3000.

Requests follow the workshop (API 250m/64Mi, limits 500m/256Mi; web limits 500m/512Mi) with a web request sized for
webpack-dev-server, which the web image runs.

The API reads its database URI from a file, not from a Secret in its environment: its `app.js` starts with
`require('dotenv').config()`, which loads `.env` from the working directory (the image's WORKDIR `/usr/src/app`)
into `process.env` without overriding what is set; `MONGODB_URI` is then read from there as before. The Secret's
`.env` key is mounted onto that one file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
APP_UID = 10001
"""The user and group of ratings-api and ratings-web: at or above 10000, so that it matches no account on the node
(checkov CKV_K8S_40). The workshop images are node:alpine builds whose files are copied and `npm install`ed as root
and readable by everyone; with a read-only root filesystem the processes write only to their emptyDirs (`fsGroup`),
so no account of the image (`node` is 1000) is needed."""
API_DOTENV_PATH = "/usr/src/app/.env"
"""Where dotenv looks for the API's `.env`: the image's WORKDIR (its Dockerfile), the process's working directory."""
API_DOTENV_KEY = ".env"
"""The key of the API's database Secret holding the `.env` file."""

_DOTENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOTENV_UNSAFE = re.compile(r"[\s#'\"`\\]")

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


def dotenv_file(variables: Mapping[str, str]) -> str:
    """A `.env` file setting these variables, read the same by dotenv 4 (the API's `^4.0.0`) and later releases.

    Values are written unquoted, so they must hold no whitespace, quote, backslash or `#` (later dotenv releases
    start a comment at `#`); a connection URI from `workloads.mongo.connection_uri` percent-encodes its credentials.
    """
    lines = []
    for name, value in variables.items():
        if not _DOTENV_NAME.match(name):
            raise ValueError(f".env variable name {name!r}: letters, digits and underscores, not starting with a digit")
        if not value or _DOTENV_UNSAFE.search(value):
            raise ValueError(f".env value of {name}: not empty, and no whitespace, quote, backslash or '#'")
        lines.append(f"{name}={value}\n")
    return "".join(lines)


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
    worker_vm_size: str,
    workers: int,
    *,
    mongodb_members: int | None = None,
    log_shipping: bool = True,
    egress_proxy: bool = False,
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
        egress_proxy=egress_proxy,
    )
    return AppSizing(members, maxima[API], maxima[WEB])
