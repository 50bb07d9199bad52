"""Shared pieces of the AKS Engine tests: valid settings, and the lifecycle run as a real subprocess."""

import dataclasses
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aksengine.apimodel import ClusterSettings, settings_to_dict
from aksengine.lifecycle import HubAccess, run

REPO = Path(__file__).resolve().parents[2]
FAKE_BIN = Path(__file__).resolve().parent / "fake_bin"
CLIENT_SECRET = "s3cr3t-Value.With~Symbols_0123456789"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "66666666-7777-8888-9999-000000000000"


def make_settings(**overrides: Any) -> ClusterSettings:
    """Settings a hub accepts; keyword arguments replace single fields."""
    base = ClusterSettings(
        location="local",
        portal_url="https://portal.local.azurestack.external",
        identity_system="azure_ad",
        subscription_id=SUBSCRIPTION,
        resource_group="ratings-k8s-rg",
        dns_prefix="ratings-east",
        subnet_id=(
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/network-rg/providers/Microsoft.Network"
            "/virtualNetworks/hub-vnet/subnets/k8s"
        ),
        subnet_cidr="10.100.0.0/22",
        vnet_cidr="10.100.0.0/16",
        first_consecutive_static_ip="10.100.3.239",
        admin_username="azureuser",
        ssh_public_key="ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 ops@example",
        client_id=CLIENT_ID,
        master_vm_size="Standard_DS2_v2",
        agent_vm_size="Standard_DS3_v2",
        agent_count=3,
    )
    return dataclasses.replace(base, **overrides)


@dataclass
class LifecycleResult:
    """What one `python -m aksengine.lifecycle` run did, and what the fake binary received."""

    returncode: int
    stdout: str
    stderr: str
    invocations: list[dict[str, Any]]
    tmpdir: Path


def checkpoints_of(tmp_path: Path) -> Path:
    """The checkpoint directory `run_lifecycle` gives the lifecycle (it does not exist before the first save)."""
    return tmp_path / "state" / "checkpoints"


def run_lifecycle(
    command: str,
    tmp_path: Path,
    settings: ClusterSettings | None = None,
    *,
    previous: str | None = None,
    extra_env: dict[str, str] | None = None,
    secret_via: Literal["stdin", "env", "nowhere"] = "stdin",
    secret: str = CLIENT_SECRET,
) -> LifecycleResult:
    """Run the lifecycle as pulumi-command would, with the fake aks-engine-azurestack first on PATH.

    `previous` is passed as pulumi-command passes it: without the final newline the lifecycle printed.
    """
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    calls = tmp_path / "calls.jsonl"
    calls.unlink(missing_ok=True)
    env = {
        "PATH": f"{FAKE_BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "TMPDIR": str(tmpdir),
        "FAKE_AKSE_LOG": str(calls),
        # Never the checkpoint directory in the home of whoever runs the tests.
        "AKSENGINE_CHECKPOINT_DIR": str(checkpoints_of(tmp_path)),
    }
    # The component passes the secret on stdin; the environment variable is the documented alternative.
    if secret_via == "env":
        env["AKSENGINE_CLIENT_SECRET"] = secret
    if settings is not None:
        env["AKSENGINE_DESIRED"] = json.dumps(
            {"settings": settings_to_dict(settings), "tenantId": None, "otherNodesInSubscription": 0}
        )
    if previous is not None:
        env["PULUMI_COMMAND_STDOUT"] = previous.removesuffix("\n")
        env["PULUMI_COMMAND_STDERR"] = "aksengine: previous progress"
    env.update(extra_env or {})
    done = subprocess.run(
        [sys.executable, "-m", "aksengine.lifecycle", command],
        cwd=REPO,
        env=env,
        # pulumi-command gives the command /dev/null when it has no stdin input.
        input=secret + "\n" if secret_via == "stdin" else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    invocations = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return LifecycleResult(done.returncode, done.stdout, done.stderr, invocations, tmpdir)


def flag(argv: list[str], name: str) -> str | None:
    """The value after `name` in an argv list, or None."""
    return argv[argv.index(name) + 1] if name in argv else None


# -- in process, with a fake resource group deleter ----------------------------------------------------


class Deleter:
    """Records what the lifecycle asked to delete; fails on request."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[HubAccess, str]] = []
        self.error = error

    def __call__(self, access: HubAccess, resource_group: str) -> None:
        self.calls.append((access, resource_group))
        if self.error:
            raise self.error


def environ(tmp_path: Path, settings: ClusterSettings, **extra: str) -> dict[str, str]:
    """The environment of an in-process run: the fake on PATH, checkpoints under `tmp_path`."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    desired = {"settings": settings_to_dict(settings), "tenantId": "tenant-1", "otherNodesInSubscription": 0}
    return {
        "PATH": f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmpdir),
        "FAKE_AKSE_LOG": str(tmp_path / "calls.jsonl"),
        "AKSENGINE_CHECKPOINT_DIR": str(checkpoints_of(tmp_path)),
        "AKSENGINE_DESIRED": json.dumps(desired),
        "AKSENGINE_CLIENT_SECRET": CLIENT_SECRET,
        **extra,
    }


def run_in_process(command: str, env: dict[str, str], deleter: Deleter) -> tuple[int, str, str]:
    """`run` with `deleter` in place of the ARM call: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = run(command, env, out, err, delete_group=deleter)
    return code, out.getvalue(), err.getvalue()
