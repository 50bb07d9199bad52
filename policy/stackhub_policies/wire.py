"""The analyzer protocol's messages, built the way the engine builds them, and its answers read back.

The engine calls a policy pack over gRPC (pulumi.runtime.proto.analyzer_pb2): `Configure` with each policy's
enforcement level and properties, `Analyze` once per resource with its inputs, `AnalyzeStack` once with every
resource's outputs, parent and dependencies (pkg/resource/deploy/step_generator.go: "Unlike Analyze,
AnalyzeStack is called on the final outputs of each resource"). Properties travel as a protobuf Struct: secrets
already unwrapped (analyzers get plain values), an unknown value as the sentinel string `UNKNOWN`.
The offline evaluation and the protocol tests build their requests here, so both speak exactly this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from .configuration import PolicyConfigError, read_settings

UNKNOWN = UNKNOWN_STRING_VALUE
"""The engine's unknown-value sentinel (a string; pulumi_policy's proxy raises when a policy reads it)."""


@dataclass(frozen=True)
class ProviderReference:
    """The explicit provider of a resource, as the engine describes it to an analyzer."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StackResource:
    """One resource of a stack, in the form the engine hands analyzers (plain JSON-like values, secrets
    unwrapped, unknowns as `UNKNOWN`)."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    """What `Analyze` receives: the resource's (checked) inputs."""
    outputs: Mapping[str, Any]
    """What `AnalyzeStack` receives: the engine's planned (preview) or final (update) state."""
    parent: str = ""
    protect: bool = False
    provider: ProviderReference | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    """Properties as the Struct on the wire."""
    message = struct_pb2.Struct()
    message.update(dict(properties))
    return message


def _options(resource: StackResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=resource.protect, parent=resource.parent)


def _provider(resource: StackResource) -> analyzer_pb2.AnalyzerProviderResource | None:
    if resource.provider is None:
        return None
    p = resource.provider
    return analyzer_pb2.AnalyzerProviderResource(type=p.type, properties=struct(p.inputs), urn=p.urn, name=p.name)


def analyze_request(resource: StackResource) -> analyzer_pb2.AnalyzeRequest:
    """The `Analyze` call for one resource (its inputs)."""
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        properties=struct(resource.inputs),
        urn=resource.urn,
        name=resource.name,
        options=_options(resource),
        provider=_provider(resource),
    )


def analyze_stack_request(resources: Sequence[StackResource]) -> analyzer_pb2.AnalyzeStackRequest:
    """The `AnalyzeStack` call for the whole stack (outputs, parents, dependencies)."""
    return analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=struct(r.outputs),
                urn=r.urn,
                name=r.name,
                options=_options(r),
                provider=_provider(r),
                parent=r.parent,
                dependencies=list(r.dependencies),
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v))
                    for k, v in r.property_dependencies.items()
                },
            )
            for r in resources
        ]
    )


_LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
_LEVEL_NAMES = {v: k for k, v in _LEVELS.items()}
_SEVERITIES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


def _level(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in _LEVELS:
        raise PolicyConfigError(f"{where}: {value!r} is not an enforcement level ({', '.join(_LEVELS)})")
    return value


def _default_level(policy: Policy) -> str:
    level = policy.enforcement_level or EnforcementLevel.ADVISORY
    return str(level.value)


def configure_request(config: Mapping[str, Any], policies: Sequence[Policy]) -> analyzer_pb2.ConfigureAnalyzerRequest:
    """The `Configure` call for a `--policy-pack-config` document.

    Keys are policy names or `all`; a value is an enforcement level, or an object with an optional
    `enforcementLevel` and the policy's settings. Like the CLI, every policy gets an entry with its level (given,
    else `all`'s, else its default); settings are checked against the policy's schema here, so that a bad file is
    refused with its problems before anything runs.
    """
    by_name = {p.name: p for p in policies}
    unknown = sorted(set(config) - set(by_name) - {"all"})
    if unknown:
        raise PolicyConfigError(f"policy config names no policy of this pack: {', '.join(unknown)}")
    every = config.get("all")
    every_level = None
    if every is not None:
        every_level = _level(every if isinstance(every, str) else dict(every).get("enforcementLevel"), "all")
    entries: dict[str, analyzer_pb2.PolicyConfig] = {}
    for name, policy in by_name.items():
        given = config.get(name)
        properties: dict[str, Any] = {}
        level = every_level or _default_level(policy)
        if isinstance(given, str):
            level = _level(given, name)
        elif isinstance(given, Mapping):
            properties = {k: v for k, v in given.items() if k != "enforcementLevel"}
            if "enforcementLevel" in given:
                level = _level(given["enforcementLevel"], f"{name}.enforcementLevel")
        elif given is not None:
            raise PolicyConfigError(f"{name}: expected an enforcement level or an object, got {given!r}")
        schema = policy.config_schema.properties if policy.config_schema else {}
        read_settings(name, schema, properties)
        entries[name] = analyzer_pb2.PolicyConfig(enforcementLevel=_LEVELS[level], properties=struct(properties))
    return analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=entries)


@dataclass(frozen=True)
class PolicyEvent:
    """One diagnostic of the pack, as the CLI's `policyEvent` reports it."""

    policy_name: str
    policy_pack_name: str
    policy_pack_version: str
    enforcement_level: str
    """`advisory`, `mandatory`, ..."""
    message: str
    """The policy's description, a newline, then what is wrong (pulumi_policy's format)."""
    urn: str
    """The resource ("" for the stack as a whole)."""
    severity: str = ""


def events(response: analyzer_pb2.AnalyzeResponse, urn: str = "") -> list[PolicyEvent]:
    """The diagnostics of an `Analyze`/`AnalyzeStack` answer; `urn` is the analyzed resource, which the engine
    gives a resource policy's diagnostics (they carry none themselves)."""
    return [
        PolicyEvent(
            policy_name=d.policyName,
            policy_pack_name=d.policyPackName,
            policy_pack_version=d.policyPackVersion,
            enforcement_level=_LEVEL_NAMES.get(d.enforcementLevel, str(d.enforcementLevel)),
            message=d.message,
            urn=d.urn or urn,
            severity=_SEVERITIES.get(d.severity, ""),
        )
        for d in response.diagnostics
    ]
