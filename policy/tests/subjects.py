"""Resources as a stack policy's check functions see them, built through pulumi_policy's own deserialization and
unknown-checking proxy (what its servicer does with an AnalyzeStack request)."""

from __future__ import annotations

from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from policy.stackhub_policies.reporting import Subject
from policy.stackhub_policies.wire import StackResource, struct
from preview.engine import StackRun
from preview.policy import stack_resources


def subject(resource: StackResource, *, outputs: bool = True) -> Subject:
    """One resource with its outputs (stack policies) or inputs (resource policies)."""
    wire = struct(resource.outputs if outputs else resource.inputs)
    props = unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(wire)))
    return Subject(
        resource.type,
        resource.name,
        resource.urn,
        props,
        resource.protect,
        resource.parent,
        resource.provider.urn if resource.provider else "",
    )


def stack_subjects(run: StackRun) -> list[Subject]:
    """Every resource of an offline run as AnalyzeStack hands it to a stack policy."""
    return [subject(r) for r in stack_resources(run.resources)]
