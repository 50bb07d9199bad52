"""The node configurator (`NODE_SCRIPT`) run for real against host folders, a fake host and a fake Lease API.

Each run gets exactly what the DaemonSet gives it: the plan from the DaemonSet's environment and the files from its
ConfigMap and Secret, rewritten to live under a temporary folder. The host commands (nsenter into PID 1, then
systemctl or update-ca-certificates) are replaced by a recorder; the Lease API by a small server that refuses a
stale `resourceVersion` with 409 as the API server does.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from planning.egress import EgressProxy
from tests.egress.certs import certificate_pem
from workloads.egress import (
    FAILED_LEASE_SECONDS,
    LEASE_NAME,
    NODE_NAMESPACE,
    NODE_SCRIPT,
    NodeProxySettings,
    node_manifests,
)

REPO = Path(__file__).resolve().parents[2]
NO_PROXY = ("localhost", "127.0.0.1", ".svc", ".cluster.local", "10.0.0.0/16", "10.10.0.0/16")
MASTERS = "10.10.3.224/28"
CA = certificate_pem("Contoso Inspection CA")
TOKEN = "node-egress-test-token"
FAKE_HOST = """\
import json, os, sys, time
argv = sys.argv[1:]
with open(os.environ["FAKE_HOST_LOG"], "a") as log:
    log.write(json.dumps({"node": os.environ["NODE_NAME"], "argv": argv, "at": "begin"}) + "\\n")
if argv[-2:-1] == ["restart"]:
    time.sleep(float(os.environ.get("FAKE_RESTART_SECONDS", "0")))
with open(os.environ["FAKE_HOST_LOG"], "a") as log:
    log.write(json.dumps({"node": os.environ["NODE_NAME"], "argv": argv, "at": "end"}) + "\\n")
inactive = os.environ.get("FAKE_INACTIVE", "")
sys.exit(3 if argv[1:3] == ["is-active", "--quiet"] and argv[3] == inactive else 0)
"""


# --- the fake Lease API ----------------------------------------------------------------------------------------


@dataclass
class LeaseApi:
    """One Lease behind GET and PUT, with optimistic concurrency; records every call."""

    lease: dict[str, Any] = field(
        default_factory=lambda: {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "namespace": NODE_NAMESPACE, "resourceVersion": "1"},
            "spec": {},
        }
    )
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    """(method, holder after the call) of every authorised call."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def holder(self) -> str | None:
        with self.lock:
            value = self.lease["spec"].get("holderIdentity")
            return str(value) if value else None

    def set_spec(self, **spec: Any) -> None:
        with self.lock:
            self.lease["spec"] = spec
            self.lease["metadata"]["resourceVersion"] = str(int(self.lease["metadata"]["resourceVersion"]) + 1)

    def handle(self, method: str, path: str, token: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        if path != f"/apis/coordination.k8s.io/v1/namespaces/{NODE_NAMESPACE}/leases/{LEASE_NAME}":
            return 404, {}
        if token != f"Bearer {TOKEN}":
            return 401, {}
        with self.lock:
            if method == "PUT":
                sent = json.loads(body)
                if sent["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
                    self.calls.append(("PUT-409", self.lease["spec"].get("holderIdentity")))
                    return 409, {}
                sent["metadata"]["resourceVersion"] = str(int(self.lease["metadata"]["resourceVersion"]) + 1)
                self.lease = sent
            self.calls.append((method, self.lease["spec"].get("holderIdentity")))
            return 200, json.loads(json.dumps(self.lease))


@pytest.fixture
def api() -> Iterator[tuple[LeaseApi, str]]:
    state = LeaseApi()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, document = state.handle(self.command, self.path, self.headers.get("Authorization"), body)
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = _answer  # noqa: N815 (http.server's names)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# --- running the script as the DaemonSet would -----------------------------------------------------------------


@dataclass
class Node:
    """One node: its host folders and configuration folder under `root`."""

    name: str
    root: Path
    api_url: str
    host_log: Path

    def __post_init__(self) -> None:
        (self.root / "host/etc/apt/apt.conf.d").mkdir(parents=True, exist_ok=True)
        tokens = self.root / "token"
        tokens.mkdir(exist_ok=True)
        (tokens / "token").write_text(TOKEN)
        (self.root / "fake_host.py").write_text(FAKE_HOST)

    def host(self, path: str) -> Path:
        return self.root / "host" / path.lstrip("/")

    def start(self, settings: NodeProxySettings, **env: str) -> subprocess.Popen[str]:
        objects = {obj["kind"]: obj for obj in node_manifests(settings)}
        config = self.root / "etc/node-egress"
        for folder, data in (("config", objects["ConfigMap"]["data"]), ("files", objects["Secret"]["stringData"])):
            target = config / folder
            if target.exists():
                for old in target.iterdir():
                    old.unlink()
            target.mkdir(parents=True, exist_ok=True)
            for key, value in data.items():
                (target / key).write_text(value)
        pod = objects["DaemonSet"]["spec"]["template"]["spec"]
        [configure] = pod["initContainers"]
        plan = next(item["value"] for item in configure["env"] if item["name"] == "EGRESS_PLAN")
        plan = plan.replace('"/host/', f'"{self.root}/host/').replace('"/etc/node-egress/', f'"{config}/')
        script = configure["command"][-1].replace("/etc/node-egress/", f"{config}/")
        environment = {
            "PATH": os.environ.get("PATH", os.defpath),
            "NODE_NAME": self.name,
            "EGRESS_PLAN": plan,
            "EGRESS_API_URL": self.api_url,
            "EGRESS_LOCK_TOKEN_DIR": str(self.root / "token"),
            "EGRESS_HOST_COMMAND": json.dumps([sys.executable, str(self.root / "fake_host.py")]),
            "EGRESS_WAIT_SECONDS": "0",
            "EGRESS_POLL_SECONDS": "0.05",
            "FAKE_HOST_LOG": str(self.host_log),
            **env,
        }
        return subprocess.Popen([sys.executable, "-S", script], env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip

    def run(self, settings: NodeProxySettings, **env: str) -> tuple[int, str]:
        process = self.start(settings, **env)
        output, _ = process.communicate(timeout=120)
        return process.returncode, output


def host_calls(log: Path, node: str | None = None) -> list[list[str]]:
    """The host commands run, in order (nsenter's prefix removed), optionally of one node."""
    if not log.exists():
        return []
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return [r["argv"] for r in records if r["at"] == "begin" and (node is None or r["node"] == node)]


def settings(**changes: Any) -> NodeProxySettings:
    proxy = EgressProxy("http://10.250.0.10:3128", no_proxy=("mirror.contoso.com",), trusted_ca=CA)
    values: dict[str, Any] = {"proxy": proxy, "no_proxy": NO_PROXY, "masters_cidr": MASTERS, **changes}
    return NodeProxySettings(**values)


RESTART_BOTH = [
    ["/usr/sbin/update-ca-certificates"],
    ["/usr/bin/systemctl", "daemon-reload"],
    ["/usr/bin/systemctl", "restart", "containerd"],
    ["/usr/bin/systemctl", "is-active", "--quiet", "containerd"],
    ["/usr/bin/systemctl", "restart", "kubelet"],
    ["/usr/bin/systemctl", "is-active", "--quiet", "kubelet"],
]


@pytest.fixture
def node(tmp_path: Path, api: tuple[LeaseApi, str]) -> Node:
    return Node("node-a", tmp_path / "node-a", api[1], tmp_path / "host.jsonl")


# --- the tests -------------------------------------------------------------------------------------------------


def test_a_new_node_is_configured_under_the_lock_and_restarts_once(node: Node, api: tuple[LeaseApi, str]) -> None:
    lease, _ = api
    code, output = node.run(settings())
    assert code == 0, output
    dropin = node.host("/etc/systemd/system/containerd.service.d/http-proxy.conf").read_text()
    assert 'Environment="HTTPS_PROXY=http://10.250.0.10:3128"' in dropin
    assert node.host("/etc/systemd/system/kubelet.service.d/http-proxy.conf").read_text() == dropin
    apt = node.host("/etc/apt/apt.conf.d/95stackhub-egress-proxy").read_text()
    assert 'Acquire::https::Proxy "http://10.250.0.10:3128";' in apt
    ca = node.host("/usr/local/share/ca-certificates/stackhub-egress-proxy-0.crt")
    assert ca.read_text() == CA
    for path in (ca, node.host("/etc/apt/apt.conf.d/95stackhub-egress-proxy")):
        assert path.stat().st_mode & 0o777 == 0o644
    assert host_calls(node.host_log) == RESTART_BOTH
    # Taken, then released: the lock is free for the next node.
    assert [holder for method, holder in lease.calls if method == "PUT"] == ["node-a", None]
    assert lease.holder is None
    assert "took the node lock" in output
    assert "released the node lock" in output


def test_an_unchanged_node_is_left_alone_without_the_lock(node: Node, api: tuple[LeaseApi, str]) -> None:
    lease, _ = api
    assert node.run(settings())[0] == 0
    node.host_log.unlink()
    calls = len(lease.calls)
    code, output = node.run(settings())
    assert code == 0
    assert "node already configured" in output
    assert host_calls(node.host_log) == []
    assert lease.calls[calls:] == []


def test_only_what_changed_is_restarted(node: Node) -> None:
    assert node.run(settings())[0] == 0
    # Another CA: the drop-ins stay, the CA is replaced, both services restart to read it.
    node.host_log.unlink()
    other = certificate_pem("Contoso Inspection CA 2")
    proxy = EgressProxy("http://10.250.0.10:3128", no_proxy=("mirror.contoso.com",), trusted_ca=other)
    assert node.run(settings(proxy=proxy))[0] == 0
    assert host_calls(node.host_log) == RESTART_BOTH
    assert node.host("/usr/local/share/ca-certificates/stackhub-egress-proxy-0.crt").read_text() == other
    # A new mirror for apt only: no service restarts.
    node.host_log.unlink()
    proxy = EgressProxy("http://10.250.0.10:3128", no_proxy=("mirror2.contoso.com",), trusted_ca=other)
    assert node.run(settings(proxy=proxy, no_proxy=NO_PROXY))[0] == 0
    calls = host_calls(node.host_log)
    assert ["/usr/bin/systemctl", "restart", "containerd"] not in calls
    assert ["/usr/sbin/update-ca-certificates"] not in calls
    # A new no-proxy list: both drop-ins change, so containerd and the kubelet restart, the CA stays.
    node.host_log.unlink()
    assert node.run(settings(proxy=proxy, no_proxy=(*NO_PROXY, "10.250.20.0/24")))[0] == 0
    assert host_calls(node.host_log) == [RESTART_BOTH[1], *RESTART_BOTH[2:]]


def test_removing_the_ca_or_the_proxy_removes_what_was_installed(node: Node) -> None:
    assert node.run(settings())[0] == 0
    node.host_log.unlink()
    bare = EgressProxy("http://10.250.0.10:3128", no_proxy=("mirror.contoso.com",))
    assert node.run(settings(proxy=bare))[0] == 0
    assert not node.host("/usr/local/share/ca-certificates/stackhub-egress-proxy-0.crt").exists()
    assert host_calls(node.host_log) == RESTART_BOTH
    node.host_log.unlink()
    assert node.run(settings(proxy=None))[0] == 0
    for path in (
        "/etc/systemd/system/containerd.service.d/http-proxy.conf",
        "/etc/systemd/system/kubelet.service.d/http-proxy.conf",
        "/etc/apt/apt.conf.d/95stackhub-egress-proxy",
    ):
        assert not node.host(path).exists(), path
    assert host_calls(node.host_log) == RESTART_BOTH[1:]


def test_a_node_waits_while_another_holds_the_lock(node: Node, api: tuple[LeaseApi, str]) -> None:
    lease, _ = api
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease.set_spec(holderIdentity="node-b", leaseDurationSeconds=600, acquireTime=now, renewTime=now)
    process = node.start(settings())
    while sum(1 for method, _ in lease.calls if method == "GET") < 3:
        assert process.poll() is None, "it should wait for the lock"
        time.sleep(0.02)
    # Nothing happened on the host while node-b held the lock.
    assert host_calls(node.host_log) == []
    assert not node.host("/usr/local/share/ca-certificates/stackhub-egress-proxy-0.crt").exists()
    lease.set_spec()  # node-b releases it
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "waiting: node-b holds the node lock" in output
    assert host_calls(node.host_log) == RESTART_BOTH


def test_an_expired_lock_is_taken_over(node: Node, api: tuple[LeaseApi, str]) -> None:
    lease, _ = api
    then = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease.set_spec(holderIdentity="node-gone", leaseDurationSeconds=600, acquireTime=then, renewTime=then)
    code, output = node.run(settings())
    assert code == 0, output
    assert "took the node lock (previous holder: node-gone)" in output


def test_a_node_whose_containerd_does_not_come_back_keeps_the_lock(node: Node, api: tuple[LeaseApi, str]) -> None:
    lease, _ = api
    code, output = node.run(settings(), FAKE_INACTIVE="containerd")
    assert code == 1
    assert "containerd is not active after its restart" in output
    assert lease.holder == "node-a"
    assert lease.lease["spec"]["leaseDurationSeconds"] == FAILED_LEASE_SECONDS
    # The kubelet was not touched once containerd had failed.
    assert ["/usr/bin/systemctl", "restart", "kubelet"] not in host_calls(node.host_log)


def test_two_nodes_never_restart_at_the_same_time(tmp_path: Path, api: tuple[LeaseApi, str]) -> None:
    lease, url = api
    log = tmp_path / "host.jsonl"
    nodes = [Node(name, tmp_path / name, url, log) for name in ("node-a", "node-b", "node-c")]
    processes = [node.start(settings(), FAKE_RESTART_SECONDS="0.2") for node in nodes]
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
    records = [json.loads(line) for line in log.read_text().splitlines()]
    # Between a node's first host command and its last, no other node runs one.
    owners = [r["node"] for r in records]
    blocks = [owners[0]] + [b for a, b in itertools.pairwise(owners) if a != b]
    assert sorted(blocks) == ["node-a", "node-b", "node-c"]
    for node in nodes:
        assert host_calls(log, node.name) == RESTART_BOTH
    assert lease.holder is None


def test_the_script_is_clean_python() -> None:
    compile(NODE_SCRIPT, "configure_node.py", "exec")
    checked = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F,E9,B,PLE", "--stdin-filename", "configure_node.py", "-"],
        input=NODE_SCRIPT, capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout
