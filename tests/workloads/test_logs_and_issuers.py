"""The log shipper's configuration and the certificate issuers."""

from __future__ import annotations

import json

import pytest

from workloads.issuers import (
    AZURE_DNS_CREDENTIALS,
    PRIVATE_CA_KEYPAIR,
    SELF_SIGNED_ISSUER,
    AzureDnsZone,
    acme_issuer_spec,
    ca_issuer_spec,
    in_zone,
    private_ca_certificate_spec,
    solver_for,
)
from workloads.log_shipping import IngestionTarget, container_log_values, event_values, table_name
from workloads.platform_values import load_balancer_services

TARGET = IngestionTarget(
    endpoint="https://shared-dce.westeurope-1.ingest.monitor.azure.com/",
    dcr_immutable_id="dcr-0123456789abcdef0123456789abcdef",
    container_log_stream="Custom-ContainerLogs_CL",
    event_stream="Custom-KubeEvents_CL",
)
ZONE = AzureDnsZone("sub", "dns-rg", "ratings.contoso-apps.com", "tenant", "client")


# --- log shipping ------------------------------------------------------------------------------------------


def test_table_name_is_the_custom_stream_without_its_prefix() -> None:
    assert table_name("Custom-ContainerLogs_CL") == "ContainerLogs_CL"
    for stream in ("Microsoft-ContainerLogV2", "ContainerLogs_CL", "Custom-"):
        with pytest.raises(ValueError, match="Custom-"):
            table_name(stream)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("endpoint", "http://dce.example", "https"),
        ("dcr_immutable_id", "/subscriptions/x/dataCollectionRules/y", "immutable id"),
        ("event_stream", "Microsoft-Event", "Custom-"),
    ],
)
def test_an_ingestion_target_is_checked(field: str, value: str, problem: str) -> None:
    arguments = {
        "endpoint": TARGET.endpoint,
        "dcr_immutable_id": TARGET.dcr_immutable_id,
        "container_log_stream": TARGET.container_log_stream,
        "event_stream": TARGET.event_stream,
        field: value,
    }
    with pytest.raises(ValueError, match=problem):
        IngestionTarget(**arguments)


def test_container_logs_ship_from_every_node_with_the_credential_from_a_secret() -> None:
    values = container_log_values(
        TARGET, hub_name="hub-seattle", secret_name="logs-creds", image_registry="mirror.local"
    )
    assert values["kind"] == "DaemonSet"
    assert {t["key"] for t in values["tolerations"]} == {
        "node-role.kubernetes.io/control-plane",
        "node-role.kubernetes.io/master",
    }
    output = values["config"]["outputs"]
    assert "Name azure_logs_ingestion" in output
    assert "dce_url https://shared-dce.westeurope-1.ingest.monitor.azure.com\n" in output
    assert "dcr_id dcr-0123456789abcdef0123456789abcdef" in output
    assert "table_name ContainerLogs_CL" in output
    assert "client_secret ${LOGS_CLIENT_SECRET}" in output
    assert "Record hub hub-seattle" in values["config"]["filters"]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"] for e in values["env"]} == {
        "LOGS_TENANT_ID": {"name": "logs-creds", "key": "tenant-id"},
        "LOGS_CLIENT_ID": {"name": "logs-creds", "key": "client-id"},
        "LOGS_CLIENT_SECRET": {"name": "logs-creds", "key": "client-secret"},
    }
    assert values["image"] == {"repository": "mirror.local/fluent/fluent-bit"}
    assert load_balancer_services("fluent-bit", values) == 0


def test_events_ship_once_from_a_single_unprivileged_replica() -> None:
    values = event_values(TARGET, hub_name="hub-seattle", secret_name="logs-creds")
    assert (values["kind"], values["replicaCount"]) == ("Deployment", 1)
    assert values["rbac"]["eventsAccess"] is True
    assert "Name kubernetes_events" in values["config"]["inputs"]
    assert "table_name KubeEvents_CL" in values["config"]["outputs"]
    assert values["securityContext"]["runAsNonRoot"] is True
    assert "image" not in values


def test_no_credential_value_is_in_the_shipper_values() -> None:
    both = [
        container_log_values(TARGET, hub_name="h", secret_name="s"),
        event_values(TARGET, hub_name="h", secret_name="s"),
    ]
    rendered = json.dumps(both)
    assert '"value":' not in rendered.replace(" ", "")


# --- issuers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostname", "solver"),
    [
        ("ratings.contoso-apps.com", "dns01"),
        ("seattle.ratings.contoso-apps.com", "dns01"),
        ("hub-seattle-ingress.seattle.cloudapp.azurestack.contoso.com", "http01"),
        ("otherratings.contoso-apps.com", "http01"),
    ],
)
def test_names_in_the_shared_zone_use_dns01_others_http01(hostname: str, solver: str) -> None:
    assert solver_for(hostname, ZONE.zone_name) == solver
    assert in_zone("RATINGS.contoso-apps.com.", ZONE.zone_name)


def test_the_acme_issuer_selects_its_solver_by_zone() -> None:
    spec = acme_issuer_spec(
        server="https://acme-staging-v02.api.letsencrypt.org/directory",
        email="ops@contoso.com",
        account_key_secret="letsencrypt-staging-account-key",
        zone=ZONE,
        ingress_class="nginx",
    )["acme"]
    dns01, http01 = spec["solvers"]
    assert dns01["selector"] == {"dnsZones": ["ratings.contoso-apps.com"]}
    assert dns01["dns01"]["azureDNS"] == {
        "clientID": "client",
        "clientSecretSecretRef": {"name": AZURE_DNS_CREDENTIALS, "key": "client-secret"},
        "subscriptionID": "sub",
        "tenantID": "tenant",
        "resourceGroupName": "dns-rg",
        "hostedZoneName": "ratings.contoso-apps.com",
        "environment": "AzurePublicCloud",
    }
    assert http01 == {"http01": {"ingress": {"ingressClassName": "nginx"}}}
    assert spec["email"] == "ops@contoso.com"
    with pytest.raises(ValueError, match="e-mail"):
        acme_issuer_spec(server="s", email="ops", account_key_secret="k", zone=ZONE, ingress_class="nginx")


def test_the_private_ca_is_self_signed_once_then_signs_workloads() -> None:
    certificate = private_ca_certificate_spec("stackhub-ha private CA")
    assert certificate["isCA"] is True
    assert certificate["secretName"] == PRIVATE_CA_KEYPAIR
    assert certificate["issuerRef"] == {"name": SELF_SIGNED_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert ca_issuer_spec() == {"ca": {"secretName": PRIVATE_CA_KEYPAIR}}
