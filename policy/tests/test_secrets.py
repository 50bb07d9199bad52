"""no-secret-literals: ConfigMap data, env values, tags, Helm values; messages never carry the value."""

from __future__ import annotations

from typing import Any

import pytest

from .fixtures import deployment, k8s, pod_template, resource, run
from .stacks import detail, evaluate_registrations, mutated, shipped, stack_config

# Shaped like credentials, made up for the tests.
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAtest\n-----END RSA PRIVATE KEY-----"
STORAGE = "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + "A1b2C3d4" * 8 + "==;EndpointSuffix=core"
SAS = "https://x.blob.core.windows.net/c?sv=2022-11-02&sp=r&sig=" + "Zx9Yw8Vu7Ts6" * 3
URL = "mongodb://admin:hunter2hunter2@db:27017/admin"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
CLIENT_SECRET = "abc8Q~" + "Xy12" * 8 + "zz"


def config_map(data: dict[str, str]) -> Any:
    return k8s("core/v1:ConfigMap", "cm", {"apiVersion": "v1", "kind": "ConfigMap",
                                           "metadata": {"name": "cm", "namespace": "app"}, "data": data})  # fmt: skip


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (PEM, "looks like a PEM private key"),
        (STORAGE, "looks like a storage account key"),
        (SAS, "looks like a SAS signature"),
        (URL, "looks like credentials in a URL"),
        (JWT, "looks like a JSON web token"),
        (CLIENT_SECRET, "looks like an Entra ID client secret"),
        ("Server=db;User Id=sa;Password=Passw0rd!;", "looks like a password in a connection string"),
    ],
)
def test_a_credential_shaped_value_in_configmap_data_is_reported_without_the_value(value: str, why: str) -> None:
    (event,) = run("no-secret-literals", config_map({"settings": value}))
    assert detail(event).startswith(f"kubernetes:core/v1:ConfigMap 'cm': data.settings {why} (1 of 1")
    assert value not in event.message
    assert value.split("\n")[1] not in event.message if "\n" in value else True


def test_an_env_value_under_a_secret_looking_name_is_reported() -> None:
    env = [{"name": "DB_PASSWORD", "value": "correct-horse"}, {"name": "HOME", "value": "/tmp"},
           {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}]  # fmt: skip
    template = pod_template()
    container = {**template["spec"]["containers"][0], "env": env}
    (event,) = run("no-secret-literals", deployment(containers=[container]))
    assert "containers[app].env[DB_PASSWORD] is a literal under the secret-looking key 'DB_PASSWORD'" in detail(event)
    assert "correct-horse" not in event.message


def test_references_and_names_of_secrets_are_not_secrets() -> None:
    data = {
        "clientSecretName": "logs-credentials",
        "password": "${DB_PASSWORD}",
        "token_file": "/var/run/secrets/token",
        "join.js": "const c = `${user}:${pwd}`; connect(`mongodb://${c}@${hosts}/admin`); db.createUser({pwd: x})",
        "outputs": "[OUTPUT]\n    client_secret ${LOGS_CLIENT_SECRET}\n",
    }
    assert run("no-secret-literals", config_map(data)) == []


def test_tags_and_helm_values_are_scanned() -> None:
    tagged = resource("azure-native:storage:StorageAccount", "sa", {"tags": {"managed-by": "pulumi", "sas": SAS}})
    (event,) = run("no-secret-literals", tagged)
    assert "tags.sas looks like a SAS signature" in detail(event)
    values = {"auth": {"adminPassword": "Sup3rSecret"}, "extraEnv": [{"name": "API_KEY", "value": "k-123456"}]}
    chart = k8s("helm.sh/v3:Release", "chart", {"name": "chart", "chart": "c", "values": values})
    assert sorted(detail(e).split(" ", 3)[2] for e in run("no-secret-literals", chart)) == [
        "values.auth.adminPassword",
        "values.extraEnv[0][API_KEY]",
    ]


def test_a_reviewed_literal_can_be_ignored() -> None:
    config = {"no-secret-literals": {"ignore": ["cm:data.settings"]}}
    assert run("no-secret-literals", config_map({"settings": JWT}), config=config) == []


def test_a_shipped_hub_with_a_password_in_its_scripts_config_map_breaks_the_rule() -> None:
    def leak(inputs: dict[str, Any]) -> None:
        inputs["data"]["uri"] = URL

    registrations = mutated(shipped("hub-seattle").resources, "hub-seattle-mongodb-scripts", leak)
    (event,) = evaluate_registrations(registrations, stack_config("hub-seattle"))
    assert event.policy_name == "no-secret-literals"
    assert "data.uri looks like credentials in a URL" in detail(event)
    assert "hunter2" not in event.message
