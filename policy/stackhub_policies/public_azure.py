"""Public Azure (the shared and global stacks) and tags everywhere: Traffic Manager fails over on HTTPS health,
backups are geo-redundant and private, the registry and the workspace accept only Entra ID identities, and every
Azure and hub resource that takes tags carries the required ones."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel

from .azure import takes_tags
from .configuration import setting
from .reporting import Settings, Subject, count, dig, items, mapping, resource_policy

TRAFFIC_MANAGER = "traffic-manager-profile"
BACKUP_STORAGE = "backup-storage-account"
REGISTRY_ADMIN = "registry-admin-user-disabled"
WORKSPACE_AUTH = "workspace-local-auth-disabled"
TAGS = "required-tags"

PROFILE = "azure-native:trafficmanager:Profile"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
REGISTRY = "azure-native:containerregistry:Registry"
WORKSPACE = "azure-native:operationalinsights:Workspace"

TM_PROPERTIES = {
    "minEndpoints": setting("integer", "Fewest endpoints (hubs) behind the profile.", 2, minimum=1),
    "maxTtlSeconds": setting(
        "integer", "Longest DNS TTL: clients follow a failover after at most this long.", 60, minimum=0
    ),
    "protocols": setting(
        "array", "Allowed health probe protocols.", ["HTTPS"], items={"enum": ["HTTP", "HTTPS", "TCP"]}
    ),
}


def check_traffic_manager(subject: Subject, settings: Settings) -> Iterable[str]:
    """Endpoints, probe protocol and host header, TTL."""
    if subject.type != PROFILE:
        return
    endpoints = len(items(dig(subject.props, "endpoints")))
    if endpoints < settings["minEndpoints"]:
        yield f"{subject.label}: {endpoints} endpoint(s); at least {settings['minEndpoints']} so that one hub can fail"
    monitor = mapping(dig(subject.props, "monitorConfig"))
    protocol = dig(monitor, "protocol")
    if protocol not in settings["protocols"]:
        yield f"{subject.label}: health probe protocol {protocol or '(unset)'}; allowed: {settings['protocols']}"
    headers = [mapping(h) for h in items(dig(monitor, "customHeaders"))]
    if not any(str(dig(h, "name")).lower() == "host" and dig(h, "value") for h in headers):
        yield (
            f"{subject.label}: 0 host headers on the health probe; 1 is needed, or every hub's ingress answers the "
            "probe for the wrong name (and its certificate)"
        )
    ttl = dig(subject.props, "dnsConfig", "ttl")
    if ttl is None or count(ttl, 0) > settings["maxTtlSeconds"]:
        shown = "unset" if ttl is None else f"{count(ttl, 0)} s"
        yield f"{subject.label}: DNS TTL {shown}; at most {settings['maxTtlSeconds']} s"


TM_POLICY = resource_policy(
    TRAFFIC_MANAGER,
    "Traffic Manager has at least two hubs, probes them over HTTPS with the application's host header, and "
    "answers with a short TTL.",
    check_traffic_manager,
    level=EnforcementLevel.MANDATORY,
    properties=TM_PROPERTIES,
    remediation="Set the global stack's hubs, monitorProtocol HTTPS, appHostname and dnsTtlSeconds.",
    reads="its endpoints and health probe",
)


STORAGE_PROPERTIES = {
    "replication": setting(
        "array",
        "Allowed SKUs: geo-redundant, so that backups survive the loss of a region.",
        ["Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"],
        items={"type": "string", "minLength": 1},
    ),
    "minimumTlsVersions": setting(
        "array", "Allowed minimumTlsVersion values.", ["TLS1_2", "TLS1_3"], items={"type": "string", "minLength": 1}
    ),
}


def check_storage(subject: Subject, settings: Settings) -> Iterable[str]:
    """Geo-redundant, HTTPS only, TLS 1.2 or later, no public blob access (each set explicitly)."""
    if subject.type != STORAGE_ACCOUNT:
        return
    sku = dig(subject.props, "sku", "name")
    if sku not in settings["replication"]:
        yield f"{subject.label}: SKU {sku or '(unset)'} is not geo-redundant; allowed: {settings['replication']}"
    if dig(subject.props, "enableHttpsTrafficOnly") is not True:
        yield f"{subject.label}: enableHttpsTrafficOnly is not true; HTTP access must be refused"
    tls = dig(subject.props, "minimumTlsVersion")
    if tls not in settings["minimumTlsVersions"]:
        yield f"{subject.label}: minimumTlsVersion {tls or '(unset)'}; allowed: {settings['minimumTlsVersions']}"
    if dig(subject.props, "allowBlobPublicAccess") is not False:
        yield f"{subject.label}: allowBlobPublicAccess is not false; no container may be public"


STORAGE_POLICY = resource_policy(
    BACKUP_STORAGE,
    "Storage accounts (the backups) are geo-redundant, HTTPS only, TLS 1.2 or later, with no public blob access.",
    check_storage,
    level=EnforcementLevel.MANDATORY,
    properties=STORAGE_PROPERTIES,
    remediation="Set the shared stack's backupStorageSku to a GRS SKU; the component sets the other three.",
    reads="its replication and access settings",
)


def check_registry(subject: Subject, _settings: Settings) -> Iterable[str]:
    """`adminUserEnabled` is not true."""
    if subject.type == REGISTRY and dig(subject.props, "adminUserEnabled") is True:
        yield f"{subject.label}: adminUserEnabled is true; the admin user must be off (hubs pull with a scoped token)"


REGISTRY_POLICY = resource_policy(
    REGISTRY_ADMIN,
    "The container registry's admin user is off: hubs pull with a repository-scoped token.",
    check_registry,
    level=EnforcementLevel.MANDATORY,
    properties={},
    remediation="Set adminUserEnabled=False and pull with the token the shared stack creates.",
    reads="its admin user setting",
)


def check_workspace(subject: Subject, _settings: Settings) -> Iterable[str]:
    """`features.disableLocalAuth` is true."""
    if subject.type == WORKSPACE and dig(subject.props, "features", "disableLocalAuth") is not True:
        yield f"{subject.label}: features.disableLocalAuth is not true; shared keys must not reach the workspace"


WORKSPACE_POLICY = resource_policy(
    WORKSPACE_AUTH,
    "The Log Analytics workspace accepts Entra ID only (local authentication off).",
    check_workspace,
    level=EnforcementLevel.MANDATORY,
    properties={},
    remediation="Set features.disableLocalAuth=True; hubs publish through the Logs Ingestion API with Entra ID.",
    reads="its local authentication setting",
)


TAGS_PROPERTIES = {
    "tags": setting(
        "array",
        "Tags every Azure and hub resource that takes tags must carry (non-empty).",
        ["managed-by"],
        items={"type": "string", "minLength": 1},
    )
}


def check_tags(subject: Subject, settings: Settings) -> Iterable[str]:
    """The required tags, each with a value."""
    if not takes_tags(subject):
        return
    tags = mapping(dig(subject.props, "tags"))
    missing = [t for t in settings["tags"] if not dig(tags, t)]
    if missing:
        yield (
            f"{subject.label}: {len(missing)} required tag(s) missing ({', '.join(missing)}); it carries "
            f"{len(tags)} tag(s) and needs {', '.join(settings['tags'])}"
        )


TAGS_POLICY = resource_policy(
    TAGS,
    "Every Azure and hub resource that takes tags carries the required tags.",
    check_tags,
    level=EnforcementLevel.MANDATORY,
    properties=TAGS_PROPERTIES,
    remediation="Add the tags to the stack's `tags` config (components put them on every resource).",
    reads="its tags",
)
