"""The checkov exceptions the workloads write on themselves, and the API's `.env` file."""

from __future__ import annotations

import pytest

from workloads.ratings import dotenv_file
from workloads.scan_exceptions import (
    IMAGE_DIGEST,
    PULL_POLICY_ALWAYS,
    ScanException,
    has_digest,
    image_exceptions,
    node_access_exceptions,
    skip_annotations,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_images_pinned_by_digest_need_no_exception() -> None:
    assert image_exceptions([f"mongo:8.0.17@{DIGEST}", f"registry.local:5000/python@{DIGEST}"]) == []
    assert image_exceptions([]) == []


def test_images_pinned_by_tag_skip_the_digest_and_pull_policy_checks_naming_only_those_images() -> None:
    exceptions = image_exceptions(["python:3.12.8-slim", f"mongo:8.0.17@{DIGEST}", "python:3.12.8-slim"])
    assert [e.check_id for e in exceptions] == [IMAGE_DIGEST, PULL_POLICY_ALWAYS]
    for exception in exceptions:
        assert "(python:3.12.8-slim)" in exception.reason
        assert "mongo" not in exception.reason
        assert "digest" in exception.reason


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        (f"mongo:8.0.17@{DIGEST}", True),
        (f"mongo@{DIGEST}", True),
        ("mongo:8.0.17", False),
        ("mongo:8.0.17@sha256:0123", False),
        (f"mongo:8.0.17@{DIGEST.upper()}", False),
        (f"mongo:8.0.17@{DIGEST}-x", False),
    ],
)
def test_only_a_full_sha256_digest_pins_the_content(image: str, pinned: bool) -> None:
    assert has_digest(image) is pinned


def test_annotations_are_numbered_one_check_each_as_checkov_reads_them() -> None:
    annotations = skip_annotations(image_exceptions(["mongo:8.0.17"]))
    assert list(annotations) == ["checkov.io/skip1", "checkov.io/skip2"]
    for value in annotations.values():
        # checkov splits the value on '=' into exactly the check id and the reason.
        check_id, reason = value.split("=")
        assert check_id in (IMAGE_DIGEST, PULL_POLICY_ALWAYS)
        assert reason.startswith(("pinned by tag", "IfNotPresent"))
    assert skip_annotations([]) == {}


@pytest.mark.parametrize(
    ("check_id", "reason", "message"),
    [
        ("CKV_K8S_43", "", "needs its reason"),
        ("CKV_K8S_43", "   ", "needs its reason"),
        ("CKV_K8S_43", "a=b", "no '='"),
        ("CKV_K8S_43", "two\nlines", "one line"),
        ("K8S_43", "why", "checkov Kubernetes check id"),
        ("CKV_AZURE_1", "why", "checkov Kubernetes check id"),
    ],
)
def test_an_exception_without_a_usable_reason_or_id_is_refused(check_id: str, reason: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScanException(check_id, reason)


def test_one_exception_per_check() -> None:
    twice = [ScanException("CKV_K8S_43", "one reason"), ScanException("CKV_K8S_43", "another reason")]
    with pytest.raises(ValueError, match="one exception per check"):
        skip_annotations(twice)


PURPOSE = "runs the host's systemctl through nsenter"


def test_node_access_skips_the_five_privilege_checks_each_naming_the_container() -> None:
    exceptions = node_access_exceptions("configure", PURPOSE)
    # privileged, hostPID, allowPrivilegeEscalation, NET_RAW, capabilities (checkov's Kubernetes check ids).
    assert [e.check_id for e in exceptions] == ["CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_20", "CKV_K8S_28", "CKV_K8S_37"]
    assert all("`configure`" in e.reason for e in exceptions)
    # What the container does is the reason for the privilege and the host's PID namespace.
    assert [e.check_id for e in exceptions if PURPOSE in e.reason] == ["CKV_K8S_16", "CKV_K8S_17"]
    # The other three say why they follow from `privileged`, and what the other containers do instead.
    assert "refuses allowPrivilegeEscalation false" in exceptions[2].reason
    assert all("every other container" in e.reason for e in exceptions[2:])


def test_node_access_and_image_exceptions_make_one_annotation_per_check() -> None:
    annotations = skip_annotations([*node_access_exceptions("configure", PURPOSE), *image_exceptions(["python:3"])])
    assert list(annotations) == [f"checkov.io/skip{n}" for n in range(1, 8)]
    assert [value.split("=")[0] for value in annotations.values()] == [
        "CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_20", "CKV_K8S_28", "CKV_K8S_37", IMAGE_DIGEST, PULL_POLICY_ALWAYS
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("container", "purpose", "message"),
    [
        ("", PURPOSE, "names its container and what it does"),
        ("configure", " ", "names its container and what it does"),
        ("configure", "sets a=b on the host", "no '='"),
    ],
)
def test_node_access_needs_a_container_and_a_purpose_checkov_can_read(
    container: str, purpose: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        node_access_exceptions(container, purpose)


def test_the_api_dotenv_file_sets_each_variable_on_its_own_unquoted_line() -> None:
    uri = "mongodb://ratings:p4ss@h-0.svc:27017,h-1.svc:27017/ratingsdb?replicaSet=rs0&authSource=ratingsdb"
    assert dotenv_file({"MONGODB_URI": uri}) == f"MONGODB_URI={uri}\n"
    assert dotenv_file({"A": "1", "B_2": "x"}) == "A=1\nB_2=x\n"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MONGODB_URI", "mongodb://s3cret@h/db#x", "no whitespace"),
        ("MONGODB_URI", "s3cret value", "no whitespace"),
        ("MONGODB_URI", "s3cret\nOTHER=1", "no whitespace"),
        ("MONGODB_URI", "'s3cret'", "no whitespace"),
        ("MONGODB_URI", "", "not empty"),
        ("1URI", "s3cret", "variable name"),
        ("MONGODB-URI", "s3cret", "variable name"),
    ],
)
def test_a_value_dotenv_would_read_differently_is_refused_without_showing_it(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        dotenv_file({name: value})
    assert "s3cret" not in str(refused.value)
