"""LogIngestion: a Log Analytics workspace the hubs send container logs and Kubernetes events to.

Hubs send through the Logs Ingestion API: a data collection endpoint (the URL they post to), a data collection rule
(the stream's schema and where it goes) and a custom table. They authenticate as an Entra application holding
"Monitoring Metrics Publisher" on the rule. The older paths are retired: the workspace-key HTTP Data Collector API,
and Container Insights' Helm onboarding (microsoft/Docker-Provider PR 1546), which AKS Engine never supported on a
hub. The rule takes two input streams, shaped like the records Fluent Bit's `azure_logs_ingestion` output posts (to
`<endpoint>/dataCollectionRules/<immutable id>/streams/<stream>`): container log lines enriched by its `kubernetes`
filter, and Kubernetes events as the events API returns them. A transformation maps both into one table, so one
query sees a pod's log lines next to the events about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import authorization, monitor, operationalinsights

# Built-in role "Monitoring Metrics Publisher": the role the Logs Ingestion API checks on the rule.
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"

# The table. Its column types are the rule's, but for `dateTime`.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("TimeGenerated", "datetime"),  # required by every Log Analytics table
    ("Hub", "string"),  # hub name, e.g. hub-seattle
    ("Source", "string"),  # ContainerLog or KubeEvent
    ("Namespace", "string"),
    ("Pod", "string"),
    ("Container", "string"),
    ("Node", "string"),
    ("Reason", "string"),  # Kubernetes event reason; empty for container logs
    ("Message", "string"),
    ("Properties", "dynamic"),  # the pod's metadata, or the object an event is about
)

# A container log line after Fluent Bit's tail input (CRI parser), kubernetes filter and `hub` record field.
CONTAINER_LOG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("TimeGenerated", "datetime"),
    ("hub", "string"),
    ("log", "string"),
    ("kubernetes", "dynamic"),
)
CONTAINER_LOG_TRANSFORM = (
    "source | project TimeGenerated, Hub = hub, Source = 'ContainerLog', "
    "Namespace = tostring(kubernetes.namespace_name), Pod = tostring(kubernetes.pod_name), "
    "Container = tostring(kubernetes.container_name), Node = tostring(kubernetes.host), Reason = '', "
    # `log` is also a KQL function: the column is quoted.
    "Message = tostring(['log']), Properties = kubernetes"
)

# A Kubernetes event from Fluent Bit's kubernetes_events input, plus the `hub` record field.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("TimeGenerated", "datetime"),
    ("hub", "string"),
    ("reason", "string"),
    ("message", "string"),
    ("involvedObject", "dynamic"),
)
EVENT_TRANSFORM = (
    "source | project TimeGenerated, Hub = hub, Source = 'KubeEvent', "
    "Namespace = tostring(involvedObject.namespace), "
    "Pod = iff(tostring(involvedObject.kind) == 'Pod', tostring(involvedObject.name), ''), Container = '', "
    "Node = iff(tostring(involvedObject.kind) == 'Node', tostring(involvedObject.name), ''), "
    "Reason = reason, Message = message, Properties = involvedObject"
)


@dataclass(frozen=True)
class LogIngestionArgs:
    """Inputs of a LogIngestion."""

    resource_group_name: pulumi.Input[str]
    """Resource group of the workspace, endpoint and rule."""
    location: str
    """Azure region, e.g. `westeurope`."""
    name_prefix: str
    """Prefix of the workspace, endpoint and rule names."""
    subscription_id: pulumi.Input[str]
    """Subscription the role definition is looked up in."""
    publisher_principal_id: str
    """Object id of the service principal the hubs publish with."""
    retention_days: int = 30
    """How long the workspace keeps data (30-730 days)."""
    table_name: str = "StackHubKubernetes_CL"
    """The custom table both streams land in."""
    stream_prefix: str = "Custom-StackHub"
    """Prefix of the rule's input streams (`<prefix>ContainerLogs`, `<prefix>KubeEvents`)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every resource."""


class LogIngestion(pulumi.ComponentResource):
    """Workspace, custom table, data collection endpoint and rule, and the publisher's role on the rule."""

    workspace_id: pulumi.Output[str]
    """ARM id of the Log Analytics workspace."""
    workspace_customer_id: pulumi.Output[str]
    """The workspace's GUID (what queries and the portal call the workspace id)."""
    ingestion_endpoint: pulumi.Output[str]
    """The Logs Ingestion API URL of the data collection endpoint."""
    rule_id: pulumi.Output[str]
    """ARM id of the data collection rule."""
    rule_immutable_id: pulumi.Output[str]
    """The rule's immutable id (`dcr-...`), part of the ingestion URL."""
    container_log_stream: pulumi.Output[str]
    """The rule's input stream for container log lines."""
    event_stream: pulumi.Output[str]
    """The rule's input stream for Kubernetes events."""
    table_name: pulumi.Output[str]
    """The custom table the records land in."""

    def __init__(self, name: str, args: LogIngestionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("stackhub-ha:index:LogIngestion", name, None, opts)
        self._name = name
        self._args = args
        log_stream, event_stream = f"{args.stream_prefix}ContainerLogs", f"{args.stream_prefix}KubeEvents"
        workspace = self._create_workspace()
        table = self._create_table(workspace)
        endpoint = self._create_endpoint()
        rule = self._create_rule(workspace, table, endpoint, log_stream, event_stream)
        self._grant_publisher(rule)

        self.workspace_id = workspace.id
        self.workspace_customer_id = workspace.customer_id
        self.ingestion_endpoint = endpoint.logs_ingestion.apply(lambda li: li.endpoint if li and li.endpoint else "")
        self.rule_id = rule.id
        self.rule_immutable_id = rule.immutable_id
        self.container_log_stream = pulumi.Output.from_input(log_stream)
        self.event_stream = pulumi.Output.from_input(event_stream)
        self.table_name = pulumi.Output.from_input(args.table_name)
        self.register_outputs({
            "workspace_id": self.workspace_id,
            "workspace_customer_id": self.workspace_customer_id,
            "ingestion_endpoint": self.ingestion_endpoint,
            "rule_id": self.rule_id,
            "rule_immutable_id": self.rule_immutable_id,
            "container_log_stream": self.container_log_stream,
            "event_stream": self.event_stream,
            "table_name": self.table_name,
        })  # fmt: skip

    def _create_workspace(self) -> operationalinsights.Workspace:
        """The Log Analytics workspace, which accepts Entra tokens only."""
        args = self._args
        return operationalinsights.Workspace(
            f"{self._name}-workspace",
            operationalinsights.WorkspaceArgs(
                resource_group_name=args.resource_group_name,
                location=args.location,
                workspace_name=f"{args.name_prefix}-logs",
                sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
                retention_in_days=args.retention_days,
                # Entra tokens only: the workspace keys (and the retired Data Collector API that used them) are off.
                features=operationalinsights.WorkspaceFeaturesArgs(disable_local_auth=True),
                public_network_access_for_ingestion="Enabled",
                public_network_access_for_query="Enabled",
                tags=dict(args.tags),
            ),
            # The hubs' log history lives here.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )

    def _create_table(self, workspace: operationalinsights.Workspace) -> operationalinsights.Table:
        """The custom table both streams land in (`COLUMNS`)."""
        args = self._args
        return operationalinsights.Table(
            f"{self._name}-table",
            operationalinsights.TableArgs(
                resource_group_name=args.resource_group_name,
                workspace_name=workspace.name,
                table_name=args.table_name,
                plan="Analytics",
                schema=operationalinsights.SchemaArgs(
                    name=args.table_name,
                    columns=[
                        operationalinsights.ColumnArgs(name=column, type="dateTime" if kind == "datetime" else kind)
                        for column, kind in COLUMNS
                    ],
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_endpoint(self) -> monitor.DataCollectionEndpoint:
        """The data collection endpoint: the URL the hubs post to."""
        args = self._args
        return monitor.DataCollectionEndpoint(
            f"{self._name}-endpoint",
            monitor.DataCollectionEndpointArgs(
                resource_group_name=args.resource_group_name,
                location=args.location,
                data_collection_endpoint_name=f"{args.name_prefix}-dce",
                description="Logs Ingestion API endpoint for the Azure Stack Hub clusters.",
                # The hubs post from on-premises networks, not from an Azure virtual network.
                network_acls=monitor.DataCollectionEndpointNetworkAclsArgs(public_network_access="Enabled"),
                tags=dict(args.tags),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_rule(
        self,
        workspace: operationalinsights.Workspace,
        table: operationalinsights.Table,
        endpoint: monitor.DataCollectionEndpoint,
        log_stream: str,
        event_stream: str,
    ) -> monitor.DataCollectionRule:
        """The data collection rule: both input streams, each transformed into the one table of the workspace."""
        args = self._args
        output_stream = f"Custom-{args.table_name}"
        return monitor.DataCollectionRule(
            f"{self._name}-rule",
            monitor.DataCollectionRuleArgs(
                resource_group_name=args.resource_group_name,
                location=args.location,
                data_collection_rule_name=f"{args.name_prefix}-dcr",
                description="Container logs and Kubernetes events from the Azure Stack Hub clusters.",
                data_collection_endpoint_id=endpoint.id,
                stream_declarations={
                    stream: monitor.StreamDeclarationArgs(
                        columns=[monitor.ColumnDefinitionArgs(name=column, type=kind) for column, kind in columns]
                    )
                    for stream, columns in ((log_stream, CONTAINER_LOG_COLUMNS), (event_stream, EVENT_COLUMNS))
                },
                destinations=monitor.DataCollectionRuleDestinationsArgs(
                    log_analytics=[
                        monitor.LogAnalyticsDestinationArgs(name="workspace", workspace_resource_id=workspace.id)
                    ]
                ),
                data_flows=[
                    monitor.DataFlowArgs(
                        streams=[stream], destinations=["workspace"], transform_kql=kql, output_stream=output_stream
                    )
                    for stream, kql in ((log_stream, CONTAINER_LOG_TRANSFORM), (event_stream, EVENT_TRANSFORM))
                ],
                tags=dict(args.tags),
            ),
            # Azure refuses a rule whose output stream names a table that does not exist yet.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[table]),
        )

    def _grant_publisher(self, rule: monitor.DataCollectionRule) -> None:
        """The hubs' service principal gets "Monitoring Metrics Publisher" on the rule: what ingestion checks."""
        args = self._args
        authorization.RoleAssignment(
            f"{self._name}-publisher",
            authorization.RoleAssignmentArgs(
                scope=rule.id,
                role_definition_id=pulumi.Output.from_input(args.subscription_id).apply(
                    lambda sub: (
                        f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/"
                        f"{MONITORING_METRICS_PUBLISHER}"
                    )
                ),
                principal_id=args.publisher_principal_id,
                # Skips the directory lookup that can fail right after the principal was created.
                principal_type="ServicePrincipal",
                description="Hubs publish container logs and Kubernetes events through this rule.",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
