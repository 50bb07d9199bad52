"""The shared stack's components (ContainerRegistry, LogIngestion, BackupStorage) and the contract hubs read."""

from __future__ import annotations

import base64
import json
from typing import Any

import pulumi
import pytest

from components.log_ingestion import COLUMNS, CONTAINER_LOG_COLUMNS, EVENT_COLUMNS
from preview.engine import StackRun, is_secret, run_stack, stack_config
from stacks.config import REDACTED
from stacks.contracts import (
    SharedBackupOutputs,
    SharedLogOutputs,
    SharedRegistryOutputs,
    StackOutputError,
    StackOutputs,
)

PREFIX = "stackhub-ha:"
SUBSCRIPTION = "5c2e8a41-7d3b-4f96-a1e0-9b8c7d6e5f41"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/stackhub-shared"
SECRET_OUTPUTS = {"registryPullPassword", "logsClientSecret", "backupSasToken"}


@pytest.fixture(scope="module")
def shared() -> StackRun:
    """One offline run of the shared stack file."""
    return run_stack("shared")


def run_shared(**overrides: Any) -> StackRun:
    values, secrets = stack_config("shared")
    for key, value in overrides.items():
        if value is None:
            values.pop(PREFIX + key, None)
        else:
            values[PREFIX + key] = value
    return run_stack("shared", config=values, secret_keys=secrets)


def inputs(run: StackRun, name: str) -> dict[str, Any]:
    return run.named(name).plain_inputs


def projected_columns(kql: str) -> list[str]:
    """The column names a `source | project a, B = expr, ...` transformation produces."""
    columns, depth, current = [], 0, ""
    for char in kql.split("| project ", 1)[1] + ",":
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            columns.append(current.split("=", 1)[0].strip())
            current = ""
        else:
            current += char
    return columns


# --- ContainerRegistry --------------------------------------------------------------------------------------


def test_registry_has_no_admin_user_and_is_protected(shared: StackRun) -> None:
    registry = shared.named("registry-registry")
    assert registry.protect
    assert registry.plain_inputs["adminUserEnabled"] is False
    assert registry.plain_inputs["anonymousPullEnabled"] is False
    assert (registry.plain_inputs["registryName"], registry.plain_inputs["sku"]) == (
        "contosoratings",
        {"name": "Standard"},
    )


def test_the_hubs_token_may_only_read_the_configured_repositories(shared: StackRun) -> None:
    scope = shared.named("registry-pull-scope")
    token = shared.named("registry-pull-token")
    assert scope.plain_inputs["actions"] == [
        "repositories/ratings-api/content/read",
        "repositories/ratings-api/metadata/read",
        "repositories/ratings-web/content/read",
        "repositories/ratings-web/metadata/read",
    ]
    assert token.plain_inputs["scopeMapId"] == scope.id
    assert token.plain_inputs["status"] == "enabled"
    assert shared.plain_outputs["registryPullUsername"] == token.plain_inputs["tokenName"] == "hub-pull"
    assert shared.plain_outputs["registryLoginServer"] == "contosoratings.azurecr.io"


def test_without_a_pull_password_yet_the_contract_leaves_it_out() -> None:
    run = run_shared(registryPullPassword=None)
    assert "registryPullPassword" not in run.outputs
    assert run.named("registry-pull-token").plain_inputs["tokenName"] == "hub-pull"


# --- LogIngestion -------------------------------------------------------------------------------------------


def test_workspace_keeps_data_as_configured_and_accepts_entra_tokens_only(shared: StackRun) -> None:
    workspace = shared.named("logs-workspace")
    assert workspace.protect
    assert workspace.plain_inputs["retentionInDays"] == 90
    assert workspace.plain_inputs["features"] == {"disableLocalAuth": True}
    assert workspace.plain_inputs["sku"] == {"name": "PerGB2018"}


def test_the_rule_maps_both_streams_into_the_table_from_the_endpoint_to_the_workspace(shared: StackRun) -> None:
    table = inputs(shared, "logs-table")
    rule = shared.named("logs-rule")
    assert [(c["name"], c["type"]) for c in table["schema"]["columns"]] == [
        (name, "dateTime" if kind == "datetime" else kind) for name, kind in COLUMNS
    ]
    assert table["schema"]["columns"][0] == {"name": "TimeGenerated", "type": "dateTime"}
    declared = {
        stream: [(c["name"], c["type"]) for c in declaration["columns"]]
        for stream, declaration in rule.plain_inputs["streamDeclarations"].items()
    }
    assert declared == {
        "Custom-StackHubContainerLogs": list(CONTAINER_LOG_COLUMNS),
        "Custom-StackHubKubeEvents": list(EVENT_COLUMNS),
    }
    flows = rule.plain_inputs["dataFlows"]
    assert [(f["streams"], f["outputStream"], f["destinations"]) for f in flows] == [
        (["Custom-StackHubContainerLogs"], "Custom-StackHubKubernetes_CL", ["workspace"]),
        (["Custom-StackHubKubeEvents"], "Custom-StackHubKubernetes_CL", ["workspace"]),
    ]
    # Each transformation projects exactly the table's columns.
    for flow in flows:
        assert projected_columns(flow["transformKql"]) == [name for name, _ in COLUMNS], flow["transformKql"]
    assert rule.plain_inputs["dataCollectionEndpointId"] == shared.named("logs-endpoint").id
    assert rule.plain_inputs["destinations"] == {
        "logAnalytics": [{"name": "workspace", "workspaceResourceId": shared.named("logs-workspace").id}]
    }
    # The rule's output stream names the table: it is created after the table.
    assert shared.named("logs-table").urn in rule.dependencies


def test_the_publisher_may_publish_through_the_rule_and_nothing_else(shared: StackRun) -> None:
    assignment = inputs(shared, "logs-publisher")
    assert assignment == {
        "scope": shared.named("logs-rule").id,
        "roleDefinitionId": f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
        "3913510d-42f4-4e42-8a64-420c390055eb",
        "principalId": "8e1f2a3b-4c5d-4e6f-9a0b-1c2d3e4f5a6b",
        "principalType": "ServicePrincipal",
        "description": "Hubs publish container logs and Kubernetes events through this rule.",
    }


def test_what_the_hubs_publish_with_is_exported(shared: StackRun) -> None:
    outputs = shared.plain_outputs
    assert outputs["logsContainerLogStream"] == "Custom-StackHubContainerLogs"
    assert outputs["logsEventStream"] == "Custom-StackHubKubeEvents"
    assert outputs["logsTableName"] == "StackHubKubernetes_CL"
    assert outputs["logsClientId"] == "4d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a"
    assert outputs["logsTenantId"] == "6f1c2a4e-8b7d-4e53-9a0f-2d3c4b5a6e7f"
    assert outputs["logsIngestionEndpoint"].startswith("https://stackhub-dce-")


# --- BackupStorage ------------------------------------------------------------------------------------------


def test_backup_account_is_private_geo_redundant_and_protected(shared: StackRun) -> None:
    account = shared.named("backups-account")
    assert account.protect
    assert account.plain_inputs["sku"] == {"name": "Standard_GRS"}
    assert account.plain_inputs["allowBlobPublicAccess"] is False
    assert account.plain_inputs["enableHttpsTrafficOnly"] is True
    assert account.plain_inputs["minimumTlsVersion"] == "TLS1_2"
    assert inputs(shared, "backups-container")["publicAccess"] == "None"


def test_old_backups_expire_and_deleted_ones_stay_recoverable(shared: StackRun) -> None:
    policy = inputs(shared, "backups-lifecycle")["policy"]["rules"][0]
    assert policy["definition"]["filters"] == {"blobTypes": ["blockBlob"], "prefixMatch": ["hub-backups/"]}
    assert policy["definition"]["actions"] == {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 35}}}
    service = inputs(shared, "backups-blob-service")
    assert service["deleteRetentionPolicy"] == {"enabled": True, "days": 14}
    assert service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 14}


def test_the_hubs_backup_sas_cannot_delete_and_expires_when_configured(shared: StackRun) -> None:
    token = shared.plain_outputs["backupSasToken"]
    fields = dict(part.split("=", 1) for part in token.split("&"))
    # Read: the hub's verification and a restore download the (encrypted) archives; overwriting and deleting are
    # refused by the container's retention policy, and the SAS has no delete either.
    assert (fields["sr"], fields["sp"], fields["spr"]) == ("c", "rcwl", "https")
    assert "d" not in fields["sp"]
    assert fields["se"] == shared.plain_outputs["backupSasExpiry"] == "2027-06-30T00:00:00Z"
    assert shared.plain_outputs["backupContainerUrl"] == "https://contosohubbackups.blob.core.windows.net/hub-backups"


# --- the contract -------------------------------------------------------------------------------------------


def test_every_credential_is_exported_as_a_secret_and_only_those(shared: StackRun) -> None:
    secret_keys = {k for k, v in shared.outputs.items() if is_secret(v)}
    assert secret_keys == SECRET_OUTPUTS
    plain = json.dumps({k: v for k, v in shared.outputs.items() if k not in SECRET_OUTPUTS})
    assert "offline-secret" not in plain


def test_the_dns_zone_is_exported_only_when_configured(shared: StackRun) -> None:
    assert shared.named("app-zone").protect
    assert shared.plain_outputs["dnsZoneName"] == "ratings.contoso.com"
    assert len(shared.plain_outputs["dnsNameServers"]) == 4
    run = run_shared(dnsZoneName=None)
    assert run.by_type("azure-native:dns:Zone") == []
    assert not any(k.startswith("dns") for k in run.outputs)


def test_a_hub_reads_the_registry_and_its_pull_secret_as_secrets(shared: StackRun) -> None:
    def hub_program() -> None:
        ref = pulumi.StackReference("acme/stackhub-ha/shared")

        async def read() -> None:
            read = {"stack": "shared", "key": "sharedStack", "reader": "hub-test"}
            contract = await SharedRegistryOutputs.read(ref, **read)
            logs = await SharedLogOutputs.read(ref, **read)
            pulumi.export("registryServer", contract.registry_login_server)
            pulumi.export("imagePullSecret", contract.image_pull_secret())
            pulumi.export("logsClientSecret", logs.secret("logs_client_secret"))

        pulumi.run(read)

    run = run_stack("hub-test", config={}, stack_outputs={"shared": shared.outputs}, program=hub_program)
    assert run.outputs["registryServer"] == "contosoratings.azurecr.io"
    assert is_secret(run.outputs["imagePullSecret"])
    assert is_secret(run.outputs["logsClientSecret"])
    document = json.loads(run.plain_outputs["imagePullSecret"])
    auth = document["auths"]["contosoratings.azurecr.io"]
    password = shared.plain_outputs["registryPullPassword"]
    assert (auth["username"], auth["password"]) == ("hub-pull", password)
    assert base64.b64decode(auth["auth"]).decode() == f"hub-pull:{password}"


def test_a_credential_exported_in_plain_text_is_refused_without_showing_it(shared: StackRun) -> None:
    outputs = dict(shared.plain_outputs)
    secret_names = SECRET_OUTPUTS - {"logsClientSecret"}
    with pytest.raises(StackOutputError) as caught:
        SharedLogOutputs.parse(outputs, secret_names, stack="shared", key="sharedStack", reader="hub-seattle")
    assert [str(p) for p in caught.value.problems] == [
        "stackhub-ha:sharedStack = 'shared': output 'logsClientSecret' must be a secret output "
        "(export it with Output.secret)"
    ]
    assert outputs["logsClientSecret"] not in str(caught.value)


def test_a_malformed_shared_output_is_named_and_secrets_stay_hidden(shared: StackRun) -> None:
    outputs = {**shared.plain_outputs, "logsDcrImmutableId": "rule-1", "backupSasToken": 42}
    outputs.pop("registryPullPassword")
    problems = []
    for model in (SharedRegistryOutputs, SharedLogOutputs, SharedBackupOutputs):
        with pytest.raises(StackOutputError) as caught:
            model.parse(outputs, SECRET_OUTPUTS, stack="shared", key="sharedStack", reader="hub-seattle")
        problems += [str(p) for p in caught.value.problems]
    assert problems == [
        "stackhub-ha:sharedStack = 'shared': output 'registryPullPassword' is missing: deploy that stack first, "
        "or check that the stack name is right",
        "stackhub-ha:sharedStack = 'shared': output 'logsDcrImmutableId' = \"rule-1\": String should match "
        "pattern '^dcr-[0-9a-f]{32}$'",
        f"stackhub-ha:sharedStack = 'shared': output 'backupSasToken' = {REDACTED}: Input should be a valid string",
    ]


@pytest.mark.parametrize(
    ("model", "prefix"),
    [(SharedRegistryOutputs, "registry"), (SharedLogOutputs, "logs"), (SharedBackupOutputs, "backup")],
)
def test_each_part_of_the_shared_contract_reads_only_its_own_outputs(
    shared: StackRun, model: type[StackOutputs], prefix: str
) -> None:
    # A hub that does not ship logs or back up to the shared container must not need those outputs.
    own = {k: v for k, v in shared.plain_outputs.items() if k.startswith(prefix) or k == "contractVersion"}
    parsed = model.parse(own, SECRET_OUTPUTS, stack="shared", key="sharedStack", reader="hub-seattle")
    assert set(model.output_names()) - {"contractVersion"} == {k for k in own if k != "contractVersion"} & set(
        model.output_names()
    )
    assert all(name.startswith(prefix) for name in model.output_names() if name != "contractVersion")
    assert parsed.model_dump()["contract_version"] == "1"
