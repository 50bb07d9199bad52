"""The pack run in-process, for the offline preview and the tests: `evaluate(resources, config)`.

It drives pulumi_policy's own analyzer servicer (the object `PolicyPack` serves over gRPC) with the requests of
`wire`, so that configuration, enforcement levels, unknown values and message formats are exactly those of
`pulumi preview --policy-pack`; only the gRPC transport is left out. The servicer is private to pulumi_policy
(1.21.0, pinned in requirements.txt); a protocol test checks that the served pack answers the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from .pack import DESCRIPTION, PACK_NAME, POLICIES, pack_version
from .wire import PolicyEvent, StackResource, analyze_request, analyze_stack_request, configure_request, events


class _Analyzer(Protocol):
    def Configure(self, request: analyzer_pb2.ConfigureAnalyzerRequest, context: object) -> object: ...  # noqa: N802
    def Analyze(self, request: analyzer_pb2.AnalyzeRequest, context: object) -> analyzer_pb2.AnalyzeResponse: ...  # noqa: N802
    def AnalyzeStack(  # noqa: N802
        self, request: analyzer_pb2.AnalyzeStackRequest, context: object
    ) -> analyzer_pb2.AnalyzeResponse: ...


def evaluate(resources: Sequence[StackResource], config: Mapping[str, Any] | None = None) -> list[PolicyEvent]:
    """Every policy event for these resources: Analyze for each, then AnalyzeStack once, as the engine calls them.

    `config` is the `--policy-pack-config` document (policy names or `all` -> level or settings); a bad one raises
    PolicyConfigError, and a bad setting reaching a policy raises it from that policy, as the served pack does.
    """
    servicer = cast(
        _Analyzer,
        _PolicyAnalyzerServicer(PACK_NAME, pack_version(), POLICIES, EnforcementLevel.ADVISORY, None, DESCRIPTION),
    )
    servicer.Configure(configure_request(config or {}, POLICIES), None)
    found: list[PolicyEvent] = []
    for resource in resources:
        found += events(servicer.Analyze(analyze_request(resource), None), resource.urn)
    found += events(servicer.AnalyzeStack(analyze_stack_request(resources), None))
    return found


def mandatory(found: Sequence[PolicyEvent]) -> list[PolicyEvent]:
    """The events that fail a preview or an update."""
    return [e for e in found if e.enforcement_level == "mandatory"]
