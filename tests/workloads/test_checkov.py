"""checkov on what the offline preview renders for both hubs: no failed check, every exception explained.

checkov runs as a program from its own venv (`.tools/checkov`, pinned by requirements-checkov.txt, built by
`make test`), over the files `python -m preview <hub> --out DIR` writes, exactly as a reviewer would run it. Without
that venv the tests fail, unless STACKHUB_ALLOW_MISSING_TOOLS=1 says this machine may skip them.

What checkov reads: the Kubernetes objects the program declares itself (the application, the database, its backups,
namespaces, issuers, the StorageClass). The Helm releases' charts are not rendered offline (their values are
written, not their templates), so the ingress controller, cert-manager, kured and Fluent Bit are not scanned here.

Both hubs are scanned a second time behind an egress proxy (tests/egress/hubs.py: the same stack files with
`egressProxy`), rendered by the same `preview.manifests` as `--out` writes them: that adds the node configurator
DaemonSet, whose deliberate privileges skip their checks with reasons, and the proxy's objects in each namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.ratings_app import AppImages
from preview.manifests import write_manifests
from tests.egress.hubs import HUBS as EGRESS_HUBS
from tests.egress.hubs import SEATTLE, run_hub
from tests.workloads.hub_cluster import Cluster, run_cluster
from workloads.scan_exceptions import IMAGE_DIGEST, PULL_POLICY_ALWAYS

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
HUBS = ("hub-seattle", "hub-denver")
EXCEPTIONS = {IMAGE_DIGEST, PULL_POLICY_ALWAYS}
"""The only checks an object may skip (images pinned by tag, `workloads.scan_exceptions`)."""
NODE_CONFIGURATOR = "DaemonSet.node-egress.node-egress-proxy"
NODE_ACCESS = {"CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_20", "CKV_K8S_28", "CKV_K8S_37"}
"""privileged, hostPID, allowPrivilegeEscalation, NET_RAW, capabilities: what the node configurator is granted."""
ALLOWED = {NODE_CONFIGURATOR: NODE_ACCESS | EXCEPTIONS}
"""The checks an object may skip beyond the image checks, by checkov's resource id."""
NO_REASON = "No comment provided"
"""What checkov records for a skip annotation without `=<reason>`."""
DIGEST = "sha256:" + "7c" * 32


def pinned_checkov_version() -> str:
    for line in (ROOT / "requirements-checkov.txt").read_text().splitlines():
        if line.startswith("checkov=="):
            return line.removeprefix("checkov==").strip()
    raise AssertionError("requirements-checkov.txt does not pin checkov")


def checkov() -> Path:
    if CHECKOV.exists():
        return CHECKOV
    if os.environ.get("STACKHUB_ALLOW_MISSING_TOOLS") == "1":
        pytest.skip(f"{CHECKOV} is missing (STACKHUB_ALLOW_MISSING_TOOLS=1): `make .tools/checkov/.stamp` builds it")
    pytest.fail(
        f"{CHECKOV} is missing: `make test` builds it (`make .tools/checkov/.stamp` alone); "
        "set STACKHUB_ALLOW_MISSING_TOOLS=1 to skip these tests on a machine without it"
    )


def scan(directory: Path) -> dict[str, Any]:
    """checkov's JSON report of the Kubernetes objects under `directory` (offline: nothing is downloaded)."""
    command = [str(checkov()), "-d", str(directory), "--framework", "kubernetes", "-o", "json", "--skip-download"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=directory)
    # Exit status 1 means failed checks, which the tests report one by one; anything else is checkov failing.
    assert done.returncode in (0, 1), f"checkov exited {done.returncode}: {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    (kubernetes,) = [r for r in reports if r.get("check_type") == "kubernetes"]
    return dict(kubernetes)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both hubs' offline previews, written as `python -m preview <hub> --out <dir>/<hub>` writes them."""
    checkov()  # before the previews: without checkov there is nothing to render for
    out = tmp_path_factory.mktemp("rendered")
    for hub in HUBS:
        done = subprocess.run(
            [sys.executable, "-m", "preview", hub, "--out", str(out / hub)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"preview of {hub} exited {done.returncode}: {done.stderr[-2000:]}"
    return out


@pytest.fixture(scope="module")
def report(rendered: Path) -> dict[str, Any]:
    return scan(rendered)


def hub_of(check: dict[str, Any]) -> str:
    return str(check["file_path"]).strip("/").split("/")[0]


def described(checks: list[dict[str, Any]], detail: Callable[[dict[str, Any]], str]) -> str:
    return "\n".join(f"  {c['check_id']} {c['file_path']} {c['resource']}: {detail(c)}" for c in checks)


def test_the_pinned_checkov_scanned_every_hubs_objects(report: dict[str, Any]) -> None:
    summary = report["summary"]
    assert summary["checkov_version"] == pinned_checkov_version(), "rebuild .tools/checkov: `make test` does"
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 60
    passed = report["results"]["passed_checks"]
    assert {hub_of(c) for c in passed} == set(HUBS)
    # The workloads themselves were checked, not only namespaces and services.
    assert {c["resource"].split(".")[0] for c in passed} >= {"Deployment", "StatefulSet", "CronJob"}


def test_no_check_fails_on_either_hub(report: dict[str, Any]) -> None:
    failed = report["results"]["failed_checks"]
    assert report["summary"]["failed"] == len(failed)
    assert failed == [], f"{len(failed)} failed checkov check(s):\n" + described(failed, lambda c: c["check_name"])


def test_every_skip_is_a_known_exception_with_its_reason(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the stack files pin images by tag, so their workloads carry image exceptions"
    unknown = [c for c in skipped if c["check_id"] not in EXCEPTIONS]
    assert unknown == [], "unexpected exceptions:\n" + described(unknown, lambda c: c["check_name"])
    for check in skipped:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert reason, check["resource"]
        assert reason != NO_REASON, check["resource"]
        assert len(reason) > 40, f"{check['resource']}: {reason!r} does not say why"
    # Each skipping object skips both image checks, and names its images in the reasons.
    by_resource: dict[tuple[str, str], set[str]] = {}
    for check in skipped:
        by_resource.setdefault((check["file_path"], check["resource"]), set()).add(check["check_id"])
    assert all(ids == EXCEPTIONS for ids in by_resource.values()), by_resource


def test_digests_leave_nothing_to_skip(tmp_path: Path) -> None:
    checkov()
    images = AppImages(api_tag=f"v1@{DIGEST}", web_tag=f"v1@{DIGEST}", mongodb=f"mongo:8.0.17@{DIGEST}")
    write_manifests(run_cluster(Cluster(images=images)), tmp_path)
    result = scan(tmp_path)
    assert result["summary"]["resource_count"] >= 20
    assert result["results"]["failed_checks"] == []
    assert result["results"]["skipped_checks"] == []


# --- behind an egress proxy ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def egress_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both hubs behind their egress proxies, written as `--out` writes them, scanned together."""
    checkov()
    out = tmp_path_factory.mktemp("egress")
    for hub in EGRESS_HUBS:
        write_manifests(run_hub(hub), out / hub.stack)
    return scan(out)


def skips_by_resource(report: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for check in report["results"]["skipped_checks"]:
        found.setdefault((hub_of(check), check["resource"]), set()).add(check["check_id"])
    return found


def test_no_check_fails_on_either_hub_behind_a_proxy(egress_report: dict[str, Any]) -> None:
    assert egress_report["summary"]["parsing_errors"] == 0
    failed = egress_report["results"]["failed_checks"]
    assert failed == [], f"{len(failed)} failed checkov check(s):\n" + described(failed, lambda c: c["check_name"])
    # The node configurator itself was checked on both hubs, not left out.
    passed = {(hub_of(c), c["resource"]) for c in egress_report["results"]["passed_checks"]}
    assert {(hub.stack, NODE_CONFIGURATOR) for hub in EGRESS_HUBS} <= passed


def test_behind_a_proxy_every_skip_has_its_reason_and_is_allowed_for_its_object(egress_report: dict[str, Any]) -> None:
    for check in egress_report["results"]["skipped_checks"]:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert reason not in ("", NO_REASON), check["resource"]
        assert len(reason) > 40, f"{check['resource']}: {reason!r} does not say why"
    skips = skips_by_resource(egress_report)
    for (stack, resource), ids in skips.items():
        allowed = ALLOWED.get(resource, EXCEPTIONS)
        assert ids <= allowed, f"{stack} {resource} skips {sorted(ids - allowed)}"
    # The configurator's images are pinned by tag here: it skips its privileges and the two image checks, exactly.
    for hub in EGRESS_HUBS:
        assert skips[(hub.stack, NODE_CONFIGURATOR)] == NODE_ACCESS | EXCEPTIONS, hub.stack


def test_a_node_image_with_a_digest_leaves_the_configurator_only_its_privileges_to_skip(tmp_path: Path) -> None:
    checkov()
    write_manifests(run_hub(SEATTLE, node_image=f"{SEATTLE.mirror}/library/python:3.12.8-slim@{DIGEST}"), tmp_path)
    result = scan(tmp_path)
    assert result["results"]["failed_checks"] == []
    skips = {c["check_id"] for c in result["results"]["skipped_checks"] if c["resource"] == NODE_CONFIGURATOR}
    assert skips == NODE_ACCESS
