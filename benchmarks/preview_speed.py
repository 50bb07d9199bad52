"""How fast the offline preview is, as ratios to floors measured in the same run (`make bench`).

This machine is noisy, so nothing here is an absolute time limit. Each figure is a ratio to a floor measured
moments apart on the same machine:
- each stack's `python -m preview <stack>` as a whole process (the policy pack included), against a floor
  process that registers as many bare resources of each of the stack's types under the same offline engine,
  importing the same SDK modules (target: a hub within 1.5x). A Kubernetes Deployment in the floor is a bare
  `apps/v1` Deployment, not a ConfigMap: the SDK module a type lives in is a cost every program that registers
  it pays (pulumi_kubernetes imports a whole API group's module at once);
- `python -m preview --all` (what `make preview` runs), warm, in seconds and against the sum of the floors
  (target: within 5 s);
- the global stack's preview as a whole process with 2, 10 and 50 hubs whose outputs come from a fixture
  (target: 50 hubs within 2x of 2);
- each stack's critical path: the longest chain of dependencies, by name;
- a hub's preview with and without the policy pack.

Exit 1 when a target is missed. `--floor <counts>` and `--global <hubs>` run one measured process each (used by
the benchmark itself).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUNS = 3
HUB_RATIO_TARGET = 1.5
ALL_STACKS_TARGET_SECONDS = 5.0
FIFTY_HUBS_RATIO_TARGET = 2.0


def kind_of(type_: str) -> str:
    """What the floor registers for a type token: the type itself, but a component or a dynamic resource (the
    project's own classes) as one of its kind."""
    if type_.startswith("stackhub-ha:"):
        return "component"
    if type_.startswith("pulumi-python:dynamic:"):
        return "dynamic"
    return type_


def floor_program(counts: dict[str, int]) -> Callable[[], None]:
    """Bare resources of the same types as the stack's, each SDK module imported only if the mix uses it, as the
    stack's program does: the least a program registering this mix can cost. A bare resource has the fewest
    inputs its SDK class accepts (an azure-native type's module is imported and a resource group registered, as
    each azure-native type wants other inputs); a type the SDK has no class for (cert-manager's) is registered
    through `apiextensions.CustomResource`."""
    import importlib  # noqa: PLC0415

    import pulumi  # noqa: PLC0415

    def maker(kind: str) -> Callable[[str], object]:
        if kind == "component":
            return lambda n: pulumi.ComponentResource("bench:index:Component", n)
        if kind == "dynamic":
            from components.change_guard import ChangeGuard  # noqa: PLC0415
            from workloads.mongo import volume_change_refusals  # noqa: PLC0415

            return lambda n: ChangeGuard(n, settings={}, rule=volume_change_refusals)
        package, module, name = kind.split(":")
        if kind == "pulumi:providers:kubernetes":
            k8s: Any = importlib.import_module("pulumi_kubernetes")
            return lambda n: k8s.Provider(n, kubeconfig="{}")
        if package == "kubernetes":
            return _kubernetes_maker(module, name)
        if package == "azure-native":
            importlib.import_module(f"pulumi_azure_native.{module}")  # the type's module, as the program imports it
            groups: Any = importlib.import_module("pulumi_azure_native.resources")
            return lambda n: groups.ResourceGroup(n, resource_group_name=n)
        sdk: Any = importlib.import_module(f"pulumi_{package}")
        return {
            "command:local:Command": lambda n: sdk.local.Command(n, create="true"),
            "tls:index/privateKey:PrivateKey": lambda n: sdk.PrivateKey(n, algorithm="RSA"),
            "random:index/randomPassword:RandomPassword": lambda n: sdk.RandomPassword(n, length=16),
        }[kind]

    def declare() -> None:
        for kind, count in counts.items():
            make = maker(kind)
            for i in range(count):
                make(f"{kind.rsplit(':', 1)[-1]}-{i}")

    return declare


def _kubernetes_maker(module: str, name: str) -> Callable[[str], object]:
    import importlib  # noqa: PLC0415

    group, version = module.rsplit("/", 1)
    folder = {"helm.sh": "helm", "networking.k8s.io": "networking", "storage.k8s.io": "storage"}.get(group, group)
    if "." in folder:  # a CustomResource type (cert-manager.io): no SDK class
        extensions: Any = importlib.import_module("pulumi_kubernetes.apiextensions")
        return lambda n: extensions.CustomResource(n, api_version=f"{group}/{version}", kind=name)
    cls = getattr(importlib.import_module(f"pulumi_kubernetes.{folder}.{version}"), name)
    if name == "Release":
        return lambda n: cls(n, chart="bench")
    if name == "StorageClass":
        return lambda n: cls(n, provisioner="disk.csi.azure.com")
    # The SDK insists on a `spec` where the Kubernetes type has one; the offline engine takes an empty one.
    spec: dict[str, Any] = {"spec": {}} if hasattr(cls, "spec") else {}
    return lambda n: cls(n, metadata={"name": n}, **spec)


def run_floor(counts: dict[str, int]) -> None:
    from preview.engine import run_stack  # noqa: PLC0415

    run_stack("shared", program=floor_program(counts), mode="preview")


def timed(argv: list[str]) -> float:
    """Median seconds of a whole process over RUNS runs (after one warm-up)."""
    subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def critical_path(resources: list[Any]) -> list[str]:
    """The longest chain of dependencies among the registered resources, by name."""
    by_urn = {r.urn: r for r in resources}
    longest: dict[str, list[str]] = {}

    def chain(urn: str) -> list[str]:
        if urn not in longest:
            before = [chain(d) for d in by_urn[urn].dependencies if d in by_urn]
            longest[urn] = [*max(before, key=len, default=[]), by_urn[urn].name]
        return longest[urn]

    return max((chain(urn) for urn in by_urn), key=len, default=[])


def preview_global_with_hubs(count: int) -> None:
    """One preview of the global stack over `count` hubs whose outputs come from a fixture (a whole process)."""
    import yaml  # noqa: PLC0415

    from preview.engine import run_stack  # noqa: PLC0415

    outputs = {f"hub-{i:02d}": _fixture_hub(i) for i in range(count)}
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch)
        (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
        document = yaml.safe_load((ROOT / "Pulumi.global.yaml").read_text())
        config = document["config"]
        config["stackhub-ha:hubs"] = [{"stack": f"hub-{i:02d}", "priority": i + 1} for i in range(count)]
        config["stackhub-ha:routingMethod"] = "Priority"
        config["stackhub-ha:useSharedDnsZone"] = False
        (project / "Pulumi.global.yaml").write_text(yaml.safe_dump(document))
        run = run_stack("global", stack_outputs=outputs, project_dir=project, mode="preview")
        assert len(run.by_type("azure-native:trafficmanager:Profile")[0].inputs["endpoints"]) == count


def _fixture_hub(i: int) -> dict[str, Any]:
    return {
        "contractVersion": "1",
        "hubName": f"hub-{i:02d}",
        "location": f"site{i:02d}",
        "addressSpaces": [f"10.{i}.0.0/16"],
        "ingressIp": f"198.51.100.{10 + i}",
        "ingressFqdn": f"hub-{i:02d}-ingress.site{i:02d}.cloudapp.hubs.example.com",
        "sharedHostname": "www.ratings.contoso.com",
        "clusterSubnetId": f"/subscriptions/x/resourceGroups/hub-{i:02d}/providers/Microsoft.Network/vnets/v",
        "healthUrl": f"https://hub-{i:02d}.example.com/healthz",
    }


def main() -> int:
    """Measure everything; print the figures; exit 1 when a target is missed."""
    from preview.engine import run_stack_with_references, stack_names  # noqa: PLC0415

    python = sys.executable
    missed: list[str] = []
    floors = 0.0
    for stack in stack_names():
        run = run_stack_with_references(stack)
        counts = Counter(kind_of(r.type) for r in run.resources)
        stack_time = timed([python, "-m", "preview", stack])
        floor_time = timed([python, __file__, "--floor", json.dumps(dict(counts))])
        floors += floor_time
        ratio = stack_time / floor_time
        print(f"{stack:12} {len(run.resources):3} resources  {stack_time:.2f} s  floor {floor_time:.2f} s  "
              f"ratio {ratio:.2f}")  # fmt: skip
        print(f"{'':12} critical path: {' -> '.join(critical_path(run.resources))}")
        if stack.startswith("hub-") and ratio > HUB_RATIO_TARGET:
            missed.append(f"{stack} {ratio:.2f}x > {HUB_RATIO_TARGET}x")
    with_pack = timed([python, "-m", "preview", "hub-seattle"])
    without_pack = timed([python, "-m", "preview", "hub-seattle", "--no-policy"])
    print(f"hub-seattle with the policy pack {with_pack:.2f} s, without {without_pack:.2f} s "
          f"(the pack adds {with_pack - without_pack:+.2f} s)")  # fmt: skip
    everything = timed([python, "-m", "preview", "--all"])
    print(f"all stacks (make preview, warm) {everything:.2f} s; sum of the floors {floors:.2f} s, "
          f"ratio {everything / floors:.2f}")  # fmt: skip
    if everything > ALL_STACKS_TARGET_SECONDS:
        missed.append(f"make preview {everything:.2f} s > {ALL_STACKS_TARGET_SECONDS} s")
    by_hubs = {count: timed([python, __file__, "--global", str(count)]) for count in (2, 10, 50)}
    print("global by hubs: " + ", ".join(f"{n} hubs {t:.3f} s" for n, t in by_hubs.items()))
    print(f"{'':12} 50 hubs / 2 hubs = {by_hubs[50] / by_hubs[2]:.2f}")
    if by_hubs[50] / by_hubs[2] > FIFTY_HUBS_RATIO_TARGET:
        missed.append(f"global with 50 hubs {by_hubs[50] / by_hubs[2]:.2f}x > {FIFTY_HUBS_RATIO_TARGET}x")
    for miss in missed:
        print(f"MISSED: {miss}")
    return 1 if missed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--floor"]:
        run_floor(json.loads(sys.argv[2]))
        sys.exit(0)
    if sys.argv[1:2] == ["--global"]:
        preview_global_with_hubs(int(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
