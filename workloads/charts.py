"""Where each platform chart comes from, and the fixed names of the releases and their namespaces.

A chart source is one of three things, and Helm (inside pulumi-kubernetes) treats them differently:
- a chart name in a classic repository (`repository` set, e.g. `https://fluent.github.io/helm-charts`);
- an OCI reference (`oci://registry/path/chart`), pulled with the credentials of `helm registry login` on the
  machine running `pulumi up` (helm.v3.Release takes no OCI credentials: pulumi/pulumi-kubernetes issue 1914);
- a local path to a packaged chart (`.tgz`) or a chart directory, which needs no network at all.

A hub that cannot reach the internet uses `PlatformCharts.mirrored(...)` (a private OCI registry, e.g. the shared
registry) or `PlatformCharts.local(...)`. The nginx-ingress chart must be repackaged with a self-contained values
schema before it is mirrored: its published schema points at remote `$ref`s that Helm downloads during install
(nginx/kubernetes-ingress issue 7193), and a Release cannot skip schema validation. docs/platform.md shows how.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INGRESS_NAMESPACE = "ingress-nginx"
INGRESS_RELEASE = "nginx-ingress"
INGRESS_CLASS = "nginx"
CERT_MANAGER_NAMESPACE = "cert-manager"
CERT_MANAGER_RELEASE = "cert-manager"
KURED_NAMESPACE = "kured"
KURED_RELEASE = "kured"
LOGGING_NAMESPACE = "logging"
FLUENT_BIT_RELEASE = "fluent-bit"
FLUENT_BIT_EVENTS_RELEASE = "fluent-bit-events"

INGRESS_CONTROLLER_POD_LABELS: dict[str, str] = {
    # The chart's selector labels: its name and the (fixed) release name (chart `_helpers.tpl`, selectorLabels).
    "app.kubernetes.io/name": "nginx-ingress",
    "app.kubernetes.io/instance": INGRESS_RELEASE,
}
"""Labels every NGINX ingress controller pod carries; NetworkPolicies in the app's namespace select on them."""


@dataclass(frozen=True)
class ChartSource:
    """Where one chart comes from and which version is installed."""

    chart: str
    """A chart name (with `repository`), an `oci://` reference, or a local path to a `.tgz` or a chart folder."""
    version: str
    """The pinned chart version (recorded for local paths too, where Helm reads it from the package)."""
    repository: str | None = None
    """A classic Helm repository URL; only with a bare chart name."""

    def __post_init__(self) -> None:
        if not self.version:
            raise ValueError(f"chart {self.chart!r}: a version must be pinned")
        if self.repository and (self.is_oci or self.is_local):
            raise ValueError(f"chart {self.chart!r}: a repository goes only with a bare chart name")
        if not self.repository and not (self.is_oci or self.is_local):
            raise ValueError(f"chart {self.chart!r}: give a repository, an oci:// reference or a local path")

    @property
    def is_oci(self) -> bool:
        """Whether the chart is pulled from an OCI registry."""
        return self.chart.startswith("oci://")

    @property
    def is_local(self) -> bool:
        """Whether the chart is a path on the machine running `pulumi up`."""
        return self.chart.startswith(("/", "./", "../")) or self.chart.endswith(".tgz")

    @property
    def name(self) -> str:
        """The chart's name (last path segment, without the package suffix)."""
        last = self.chart.rstrip("/").rsplit("/", maxsplit=1)[-1]
        suffix = f"-{self.version}.tgz"
        return last[: -len(suffix)] if last.endswith(suffix) else last.removesuffix(".tgz")

    @property
    def release_version(self) -> str | None:
        """The version to hand to Helm: none for a local path (Helm ignores it and reads the package's)."""
        return None if self.is_local else self.version


NGINX_INGRESS = ChartSource("oci://ghcr.io/nginx/charts/nginx-ingress", "2.6.4")
"""F5 NGINX Ingress Controller chart 2.6.4 (controller 5.5.4)."""
CERT_MANAGER = ChartSource("oci://quay.io/jetstack/charts/cert-manager", "v1.21.1")
"""cert-manager v1.21.1 (the version carries a `v`)."""
KURED = ChartSource("oci://ghcr.io/kubereboot/charts/kured", "6.1.0")
"""kured chart 6.1.0 (kured 1.23.0)."""
FLUENT_BIT = ChartSource("fluent-bit", "0.57.9", repository="https://fluent.github.io/helm-charts")
"""Fluent Bit chart 0.57.9 (Fluent Bit 5.0.9), which has the `azure_logs_ingestion` output."""


@dataclass(frozen=True)
class PlatformCharts:
    """The source of every platform chart; the defaults are the pinned upstream charts."""

    nginx_ingress: ChartSource = field(default=NGINX_INGRESS)
    """The NGINX ingress controller chart (repackaged with a self-contained schema when mirrored)."""
    cert_manager: ChartSource = field(default=CERT_MANAGER)
    """The cert-manager chart."""
    kured: ChartSource = field(default=KURED)
    """The kured chart."""
    fluent_bit: ChartSource = field(default=FLUENT_BIT)
    """The Fluent Bit chart (two releases: container logs and Kubernetes events)."""

    @classmethod
    def mirrored(cls, registry: str, path: str = "helm") -> PlatformCharts:
        """The same versions pulled from a private OCI registry, e.g. `oci://<registry>/helm/<chart>`."""
        base = f"oci://{registry.removeprefix('oci://').rstrip('/')}/{path.strip('/')}"
        defaults = cls()
        return cls(
            *(ChartSource(f"{base}/{source.name}", source.version) for source in defaults.all()),
        )

    @classmethod
    def local(cls, directory: str) -> PlatformCharts:
        """The same versions from packages in a folder (`helm pull` output: `<chart>-<version>.tgz`)."""
        base = directory.rstrip("/") or "."
        if not base.startswith(("/", "./", "../")):
            base = f"./{base}"
        defaults = cls()
        return cls(*(ChartSource(f"{base}/{s.name}-{s.version}.tgz", s.version) for s in defaults.all()))

    def all(self) -> tuple[ChartSource, ChartSource, ChartSource, ChartSource]:
        """Every source, in field order."""
        return (self.nginx_ingress, self.cert_manager, self.kured, self.fluent_bit)
