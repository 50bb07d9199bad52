"""DatabaseBackup on its own under the offline engine, with fixed inputs: what it renders, for comparisons.

The hub stack's tests (tests/components/test_database_backup.py) see the component through the stack's config;
these fixed inputs keep a rendering comparable across changes of the stack files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.database_backup import BackupRecipient, DatabaseBackup, DatabaseBackupArgs
from preview.engine import StackRun, run_stack
from preview.manifests import rendered_objects
from workloads.backup.jobs import Names

GOLDEN = Path(__file__).parent / "golden" / "database_backup_no_proxy.json"
"""The component's objects without an egress proxy, rendered before the egress model was added."""
HUB = "hub-test"
SAS_SIGNATURE = "sentinel-component-sas-signature-9d2e"
SAS = f"sv=2019-12-12&sr=c&sp=rcwl&se=2099-06-30T00:00:00Z&spr=https&sig={SAS_SIGNATURE}"
CONTAINER_URL = "https://backupsacct.blob.core.windows.net/hub-backups"
FAKE_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakeCertificateForRenderingOnly\n-----END CERTIFICATE-----\n"
DATABASE_LABELS = {"app.kubernetes.io/name": "ratings-mongodb"}


def base_args(provider: k8s.Provider, **overrides: Any) -> DatabaseBackupArgs:
    """Fixed inputs (direct access to public Azure storage), with `overrides` on top."""
    values: dict[str, Any] = {
        "provider": provider,
        "namespace": "ratingsapp",
        "hub": HUB,
        "container_url": CONTAINER_URL,
        "sas_token": pulumi.Output.secret(SAS),
        "recipients": [BackupRecipient("recovery.pem", FAKE_PEM, True), BackupRecipient("verify.pem", FAKE_PEM, False)],
        "verification_key": pulumi.Output.secret("offline-verification-key"),
        "database_hosts": [f"ratings-mongodb-{n}.ratings-mongodb.ratingsapp.svc.cluster.local:27017" for n in range(3)],
        "database_labels": DATABASE_LABELS,
        "database_port": 27017,
        "storage_egress": [("20.60.0.0/16", 443), ("20.150.0.0/16", 443)],
        "mongo_image": "mongo:8.0.17",
        "python_image": "python:3.12.8-slim",
        "image_pull_secrets": ["registry-pull"],
    }
    values.update(overrides)
    return DatabaseBackupArgs(**values)


def program(**overrides: Any) -> Callable[[], None]:
    """A program declaring one DatabaseBackup (the Kubernetes provider's kubeconfig is a placeholder)."""

    def declare() -> None:
        provider = k8s.Provider("cluster", kubeconfig="{}", opts=pulumi.ResourceOptions())
        DatabaseBackup("backup", base_args(provider, **overrides))

    return declare


def run(**overrides: Any) -> StackRun:
    """An offline run of the program (everything it registered)."""
    return run_stack("hub-component-test", config={}, secret_keys=set(), program=program(**overrides))


def render(**overrides: Any) -> list[dict[str, Any]]:
    """The component's objects, in registration order, secrets redacted."""
    return rendered_objects(run(**overrides))


def without_pod_code(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects with the pod-side Python ConfigMap's data left out.

    That ConfigMap ships `workloads/backup/pod/*.py` themselves: it changes with every change of the pod code,
    which a rendering comparison is not about (tests/backup/test_jobs.py checks what it holds).
    """
    python = Names().python_configmap
    return [
        {**obj, "data": "(workloads/backup/pod/*.py)"}
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == python
        else obj
        for obj in objects
    ]


def canonical(objects: list[dict[str, Any]]) -> str:
    """The objects as the golden file holds them: by kind and name (registration order follows when Outputs
    resolve, which no object depends on), as JSON with two-space indent and keys in rendered order."""
    ordered = sorted(objects, key=lambda o: (o["kind"], o["metadata"]["name"]))
    return json.dumps(ordered, indent=2) + "\n"
