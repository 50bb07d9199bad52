"""The pinned release, Kubernetes version arithmetic and `aks-engine-azurestack version` parsing."""

import pytest

from aksengine.versions import (
    AKS_ENGINE_VERSION,
    DEFAULT_KUBERNETES_VERSION,
    NEW_CLUSTER_KUBERNETES_VERSIONS,
    is_upgrade_allowed,
    latest_patch,
    minor_of,
    parse_kubernetes_version,
    parse_version_output,
    upgrade_refusal,
)


def test_pinned_release_and_default() -> None:
    assert AKS_ENGINE_VERSION == "v0.85.0"
    assert NEW_CLUSTER_KUBERNETES_VERSIONS == ("1.33.10", "1.34.4", "1.35.0")
    assert DEFAULT_KUBERNETES_VERSION in NEW_CLUSTER_KUBERNETES_VERSIONS
    assert minor_of(DEFAULT_KUBERNETES_VERSION) == "1.33"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Version: v0.85.0\nGitCommit: 4a3b2c1\nGitTreeState: clean\n", "v0.85.0"),
        ("  Version:   v0.84.1  \nGitCommit: x\n", "v0.84.1"),
        ('{\n  "GitTag": "v0.85.0",\n  "GitCommit": "4a3b2c1",\n  "GitTreeState": "clean"\n}', "v0.85.0"),
        ("Version: canary\nGitCommit: unset\nGitTreeState: unset", "canary"),
    ],
)
def test_version_output_is_parsed(text: str, expected: str) -> None:
    assert parse_version_output(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "aks-engine-azurestack v0.85.0", '{"GitCommit": "x"}', "{not json", "Version:\n"],
)
def test_unparsable_version_output_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"version|Version|GitTag|JSON"):
        parse_version_output(text)


def test_version_arithmetic() -> None:
    assert parse_kubernetes_version("v1.34.4") == (1, 34, 4)
    assert minor_of("1.35.0") == "1.35"
    assert latest_patch("1.34") == "1.34.4"
    assert latest_patch("1.36") is None
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH"):
        parse_kubernetes_version("1.34")


@pytest.mark.parametrize(
    ("current", "target", "reason"),
    [
        ("1.33.10", "1.34.4", None),
        ("1.34.4", "1.35.0", None),
        ("1.33.5", "1.33.10", None),  # patch bump
        ("1.32.9", "1.33.10", None),  # from a version an older release installed
        ("1.33.10", "1.35.0", "upgrade to 1.34.4 first"),
        ("1.34.4", "1.33.10", "downgrading"),
        ("1.35.0", "1.35.0", "already runs"),
        ("1.34.4", "1.35.1", "not a version AKS Engine v0.85.0 installs"),
    ],
)
def test_upgrade_paths(current: str, target: str, reason: str | None) -> None:
    refusal = upgrade_refusal(current, target)
    if reason is None:
        assert refusal is None
        assert is_upgrade_allowed(current, target)
    else:
        assert refusal is not None
        assert reason in refusal
        assert not is_upgrade_allowed(current, target)
