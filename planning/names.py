"""Rules for names the stacks hand to components: host names, image references, registries. Pure functions.

Each rule lives here once. The stack config calls it to refuse bad input before anything is registered, and a
component that checks the same thing should call it too, so that what the config accepts the component accepts.
Each `*_problem` function returns why the value is refused, or None when it is fine.
"""

from __future__ import annotations

import re

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)+[a-z]{{2,63}}$")
"""A lowercase DNS name of two or more labels whose top-level label is letters only (so that it is never an IP
address): what an Ingress host, a certificate's DNS name and Traffic Manager's `host` header all accept."""


def hostname_problem(name: str) -> str | None:
    """Why `name` cannot be one of the application's host names, or None."""
    if HOSTNAME.match(name):
        return None
    if name != name.lower():
        return "must be lowercase (Ingress hosts and certificate names are)"
    return (
        "must be a fully qualified DNS name such as app.contoso.com: labels of a-z, 0-9 and '-' (not at either end), "
        "at most 63 characters each and 253 in all, a top-level label of letters only"
    )


# Docker reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest], path components lowercase.
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)"
_PORT = r"(?::(?P<port>[0-9]{1,5}))"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
IMAGE_NAME = re.compile(rf"^(?P<path>{_PATH})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
"""An image reference without its registry: `name[:tag][@digest]`."""
REGISTRY = re.compile(rf"^(?P<host>{_HOST}){_PORT}?(?P<path>(?:/{_PATH})?)$")
_MAX_PORT = 65535


def _registry_host(reference: str) -> str | None:
    """The registry part of a reference: the first component when it looks like a host (a dot, a port, localhost)."""
    first, sep, _ = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def _port_problem(port: str | None) -> str | None:
    if port is not None and not 0 < int(port) <= _MAX_PORT:
        return f"port {port} is outside 1-{_MAX_PORT}"
    return None


def image_reference_problem(reference: str) -> str | None:
    """Why `reference` is not a pinned image (`[registry[:port]/]path:tag` or `...@sha256:<digest>`), or None.

    A tag is required unless a digest pins the image, and `latest` is refused: what runs must be what was
    reviewed. A registry may carry a port (`registry.local:5000/mongo:8.0.17`), as `imageRegistry` may.
    """
    registry = _registry_host(reference)
    rest = reference[len(registry) + 1 :] if registry else reference
    match = IMAGE_NAME.match(rest)
    host = REGISTRY.match(registry) if registry else None
    if match is None or (registry is not None and (host is None or host["path"])):
        return (
            "image reference must be [registry[:port]/]name:tag or name@sha256:<digest>, with a lowercase name "
            "such as mongo or library/mongo"
        )
    if (port := _port_problem(host["port"] if host else None)) is not None:
        return f"image registry {port}"
    if match["tag"] is None and match["digest"] is None:
        return "image has no tag: pin one (such as mongo:8.0.17) or a digest; an untagged image means latest"
    if match["tag"] == "latest":
        return (
            "image tag latest is not pinned: pin another tag (a digest may follow it); latest changes under a "
            "running cluster"
        )
    return None


IMAGE_TAG = re.compile(rf"^(?P<tag>{_TAG})(?:@(?P<digest>{_DIGEST}))?$")
"""A tag, optionally with the digest that pins its content: `v1` or `v1@sha256:<64 hex>`."""


def image_tag_problem(tag: str) -> str | None:
    """Why `tag` cannot tag one of the application's images in the shared registry, or None."""
    match = IMAGE_TAG.match(tag)
    if match is None:
        return (
            "must be an image tag (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'), "
            "optionally followed by @sha256:<64 hex digits>"
        )
    if match["tag"] == "latest":
        return "must be a pinned tag, not latest: what runs must be what was reviewed"
    return None


def registry_problem(value: str) -> str | None:
    """Why `value` is not a registry `host[:port][/path]` (no scheme), or None."""
    match = REGISTRY.match(value)
    if match is None or value != value.lower():
        return "must be a registry host[:port][/path] in lowercase, without a scheme, e.g. registry.contoso.local:5000"
    return _port_problem(match["port"])


OCI_SCHEME = "oci://"
CHART_PATH = "helm"
"""The folder of a chart registry under which the mirrored charts are found (`PlatformCharts.mirrored`)."""


def chart_registry_problem(value: str) -> str | None:
    """Why `value` cannot hold the mirrored charts, or None.

    The charts are looked up at `oci://<value>/helm/<chart>`: a value that already ends in `/helm` would make every
    chart `.../helm/helm/<chart>`.
    """
    host = value.removeprefix(OCI_SCHEME).rstrip("/")
    if (problem := registry_problem(host)) is not None:
        return problem.replace("without a scheme", "optionally with oci://")
    if "/" in host and host.rsplit("/", 1)[-1] == CHART_PATH:
        return (
            f"must not end in /{CHART_PATH}: the charts are pulled from <chartRegistry>/{CHART_PATH}/<chart>, so this "
            f"would look in {host}/{CHART_PATH}/; give {host.rsplit('/', 1)[0]}"
        )
    return None
