"""Rendered manifests: one valid YAML per object, Helm values beside them, no secret anywhere."""

from __future__ import annotations

import base64
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from pulumi.output import Unknown

from preview.engine import REDACTED, SECRET_SIG, SIG_KEY, Registration, StackRun
from preview.manifests import (
    REDACTED_DATA,
    UNKNOWN,
    is_kubernetes_object,
    rendered_object,
    rendered_objects,
    write_manifests,
)
from tests.workloads.hub_cluster import KUBERNETES_VERSION, SENTINELS, run_cluster

NOT_YET_KNOWN = Unknown()  # type: ignore[no-untyped-call]


def registration(type_: str, inputs: dict[str, object], custom: bool = True) -> Registration:
    return Registration(
        urn=f"urn:pulumi:test::p::{type_}::x",
        type=type_,
        name="x",
        parent="",
        custom=custom,
        protect=False,
        inputs=inputs,
        dependencies=[],
    )


def secret(value: object) -> dict[str, object]:
    return {SIG_KEY: SECRET_SIG, "value": value}


@pytest.fixture(scope="module")
def cluster() -> StackRun:
    return run_cluster()


@pytest.fixture(scope="module")
def written(cluster: StackRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("manifests")
    return out, write_manifests(cluster, out)


def test_objects_come_from_kubernetes_resources_only(cluster: StackRun) -> None:
    objects = rendered_objects(cluster)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "StatefulSet", "Secret", "NetworkPolicy", "ClusterIssuer", "StorageClass"} <= kinds
    assert "Release" not in kinds
    assert all(list(o)[:3] == ["apiVersion", "kind", "metadata"] for o in objects)
    assert not is_kubernetes_object(registration("pulumi:providers:kubernetes", {}))
    assert not is_kubernetes_object(registration("kubernetes:helm.sh/v3:Release", {}))
    assert not is_kubernetes_object(registration("kubernetes:yaml/v2:ConfigGroup", {}))
    assert not is_kubernetes_object(registration("stackhub-ha:index:RatingsApp", {}, custom=False))


def test_secret_values_are_replaced_by_a_schema_valid_marker() -> None:
    obj = rendered_object(
        registration(
            "kubernetes:core/v1:Secret",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s", "namespace": "n"},
                "data": {"token": "c2VjcmV0"},
                "stringData": secret({"password": "hunter2", "user": "u"}),
            },
        )
    )
    assert obj["data"] == {"token": REDACTED_DATA}
    assert base64.b64decode(REDACTED_DATA).decode() == REDACTED
    assert obj["stringData"] == {"password": REDACTED, "user": REDACTED}
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    unknown_keys = rendered_object(
        registration("kubernetes:core/v1:Secret", {"metadata": {"name": "s"}, "stringData": secret(NOT_YET_KNOWN)})
    )
    assert unknown_keys["stringData"] == {"redacted": REDACTED}


def test_secrets_elsewhere_unknowns_and_float_numbers_are_made_presentable() -> None:
    obj = rendered_object(
        registration(
            "kubernetes:core/v1:ConfigMap",
            {"metadata": {"name": "c", "namespace": "n"}, "data": {"a": secret("x"), "b": NOT_YET_KNOWN}},
        )
    )
    assert obj["apiVersion"] == "v1"
    assert obj["data"] == {"a": REDACTED, "b": UNKNOWN}
    scaled = rendered_object(registration("kubernetes:apps/v1:Deployment", {"spec": {"replicas": 3.0, "ratio": 0.5}}))
    assert scaled["apiVersion"] == "apps/v1"
    assert scaled["spec"] == {"replicas": 3, "ratio": 0.5}


def test_one_yaml_per_object_and_helm_values_beside_them(cluster: StackRun, written: tuple[Path, list[Path]]) -> None:
    out, files = written
    objects = rendered_objects(cluster)
    manifests = [f for f in files if f.parent.name != "helm"]
    assert len(manifests) == len(objects) == len(set(manifests))
    assert (out / "ratingsapp" / "statefulset-ratings-mongodb.yaml") in files
    assert (out / "_cluster" / "storageclass-database-retain.yaml") in files
    helm = sorted(f.name for f in files if f.parent.name == "helm")
    assert helm == [
        "cert-manager.values.yaml",
        "fluent-bit-events.values.yaml",
        "fluent-bit.values.yaml",
        "kured.values.yaml",
        "nginx-ingress.values.yaml",
    ]
    nginx = yaml.safe_load((out / "helm" / "nginx-ingress.values.yaml").read_text())
    assert nginx["controller"]["service"]["type"] == "LoadBalancer"


def test_written_manifests_validate_against_the_kubernetes_schema(written: tuple[Path, list[Path]]) -> None:
    _, files = written
    for path in files:
        if path.parent.name == "helm":
            continue
        obj = yaml.safe_load(path.read_text())
        if "cert-manager.io" in obj["apiVersion"]:
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_no_secret_value_is_written(written: tuple[Path, list[Path]]) -> None:
    _, files = written
    text = "\n".join(path.read_text() for path in files)
    for what, sentinel in SENTINELS.items():
        assert sentinel not in text, what
    assert REDACTED in text
