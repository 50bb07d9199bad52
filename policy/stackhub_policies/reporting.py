"""How every policy of the pack is built, reads its settings, and reports.

A check is a plain function: a resource check gets one resource and the policy's settings and yields messages;
a stack check gets every resource and yields findings (a message and the resource it is about). Messages name the
resource, the figure and the limit, and never a property's value where that value could be a secret.

What a preview cannot know is never passed over: `pulumi_policy` raises UnknownValueError when a check reads an
unknown value, and would turn it into an advisory "can't run policy during preview" line. Here it becomes a
"cannot verify" finding reported at the policy's own enforcement level, naming the resource and the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from .configuration import Schema, read_settings

Settings = Mapping[str, Any]
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Subject:
    """A resource as a check sees it."""

    type: str
    """The type token (`kubernetes:apps/v1:Deployment`)."""
    name: str
    """The logical name the program gave it."""
    urn: str
    """Its URN."""
    props: Mapping[str, Any]
    """Inputs (resource policies) or the engine's planned outputs (stack policies), secrets unwrapped; reading
    an unknown value raises UnknownValueError."""
    protect: bool = False
    """Whether the `protect` option is set."""
    parent: str = ""
    """The parent's URN."""
    provider_urn: str = ""
    """The explicit provider's URN ("" for a default provider)."""

    @property
    def label(self) -> str:
        """How messages name it: its type and logical name."""
        return f"{self.type} '{self.name}'"

    @classmethod
    def of_args(cls, args: ResourceValidationArgs) -> Subject:
        """The resource a resource policy was called for."""
        return cls(
            args.resource_type,
            args.name,
            args.urn,
            args.props,
            bool(args.opts.protect),
            args.opts.parent or "",
            args.provider.urn if args.provider is not None else "",
        )

    @classmethod
    def of_stack(cls, resource: PolicyResource) -> Subject:
        """One resource of the stack a stack policy was called for. The engine gives AnalyzeStack each resource's
        parent beside its options (step_generator.go AnalyzeResources leaves `options.parent` empty), and
        pulumi_policy links it when the parent is in the stack: either is read."""
        parent = resource.parent.urn if resource.parent is not None else resource.opts.parent or ""
        return cls(
            resource.resource_type,
            resource.name,
            resource.urn,
            resource.props,
            bool(resource.opts.protect),
            parent,
            resource.provider.urn if resource.provider is not None else "",
        )


@dataclass(frozen=True)
class Finding:
    """One violation a stack check found."""

    message: str
    """What is wrong: the resource, the figure, the limit."""
    urn: str | None = None
    """The resource it is about (None: the stack as a whole)."""


class CannotVerifyError(Exception):
    """A value a check needs is not known yet (a preview): reported at the policy's level, never skipped."""

    def __init__(self, subject: Subject, what: str, why: str) -> None:
        super().__init__(f"cannot verify {what} of {subject.label}: {why}")
        self.subject = subject
        self.message = f"cannot verify {what} of {subject.label}: {why}"


def unknown(subject: Subject, what: str, error: UnknownValueError) -> CannotVerifyError:
    """The CannotVerifyError for an unknown value a check read."""
    return CannotVerifyError(subject, what, f"{error.message} (it is only known after `pulumi up`)")


def read(subject: Subject, what: str, getter: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`getter(*args, **kwargs)`, or CannotVerifyError naming `what` when it reads an unknown value."""
    try:
        return getter(*args, **kwargs)
    except UnknownValueError as error:
        raise unknown(subject, what, error) from error


def is_kubernetes(subject: Subject) -> bool:
    """Whether the resource is a Kubernetes object or Helm release (not the provider itself)."""
    return subject.type.startswith("kubernetes:")


def planned(subject: Subject) -> bool:
    """Whether a stack policy can read the resource. Stack policies see the engine's planned outputs; for an object
    whose Kubernetes provider is not configured yet (the cluster does not exist, its kubeconfig is unknown) the
    engine plans an empty property map (pkg/resource/plugin/provider_plugin.go Create: "hand back an empty
    property map"), so nothing of it can be read."""
    return not (is_kubernetes(subject) and len(subject.props) == 0)


def unplanned(subjects: Sequence[Subject], what: str) -> Finding | None:
    """One "cannot verify" finding for the resources a stack policy needs but cannot read in this preview."""
    missing = [s for s in subjects if not planned(s)]
    if not missing:
        return None
    names = ", ".join(f"'{s.name}'" for s in missing)
    return Finding(
        f"cannot verify {what}: {len(missing)} Kubernetes resource(s) have no planned state in this preview "
        f"({names}); their provider is configured only once the cluster exists, so the engine plans nothing for "
        "them until then (per-resource policies still check their inputs)"
    )


ResourceCheck = Callable[[Subject, Settings], Iterable[str]]
StackCheck = Callable[[Sequence[Subject], Settings], Iterable[Finding]]


def resource_policy(
    name: str,
    description: str,
    check: ResourceCheck,
    *,
    level: EnforcementLevel,
    properties: Mapping[str, Schema],
    remediation: str,
    reads: str,
    severity: Severity = Severity.HIGH,
) -> ResourceValidationPolicy:
    """A policy run on each resource (Analyze: the resource's inputs); `reads` names what it reads, for "cannot
    verify" messages."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        settings = read_settings(name, properties, args.get_config())
        subject = Subject.of_args(args)
        try:
            for message in check(subject, settings):
                report(message, None)
        except UnknownValueError as error:
            report(unknown(subject, reads, error).message, None)
        except CannotVerifyError as error:
            report(error.message, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties={k: dict(v) for k, v in properties.items()}),
        severity=severity,
        remediation_steps=remediation,
    )


def stack_policy(
    name: str,
    description: str,
    check: StackCheck,
    *,
    level: EnforcementLevel,
    properties: Mapping[str, Schema],
    remediation: str,
    severity: Severity = Severity.HIGH,
) -> StackValidationPolicy:
    """A policy run once over the whole stack (AnalyzeStack: every resource's planned outputs)."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        settings = read_settings(name, properties, args.get_config())
        subjects = [Subject.of_stack(r) for r in args.resources]
        try:
            for finding in check(subjects, settings):
                report(finding.message, finding.urn)
        except CannotVerifyError as error:
            report(error.message, error.subject.urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties={k: dict(v) for k, v in properties.items()}),
        severity=severity,
        remediation_steps=remediation,
    )


def number(value: Any) -> float | None:
    """A numeric property as a float (numbers arrive as float64 from the engine); None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def count(value: Any, default: int) -> int:
    """An integer property (a count), or `default` when absent or not a number."""
    found = number(value)
    return default if found is None else int(found)


def is_list(value: Any) -> bool:
    """Whether a property is a list (the unknown-checking proxy wraps lists in a Sequence, not a list)."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def items(value: Any) -> list[Any]:
    """A list property's items; [] when absent or not a list."""
    return list(value) if is_list(value) else []


def mapping(value: Any) -> Mapping[str, Any]:
    """A map property; {} when absent or not a map."""
    return value if isinstance(value, Mapping) else {}


def dig(value: Any, *path: str) -> Any:
    """The value at `path` inside nested maps, None when a step is missing (unknowns still raise)."""
    for key in path:
        if not has(value, key):
            return None
        value = value[key]
    return value


@dataclass(frozen=True)
class Unread:
    """A value a walk over a map or list met but could not read: it is unknown in this preview."""

    error: UnknownValueError


def entries(value: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """A map's keys and values, an unknown value as Unread instead of raising (for walks that only care about
    some keys: an unknown elsewhere must not stop them)."""
    for key in value:
        try:
            yield key, value[key]
        except UnknownValueError as error:
            yield key, Unread(error)


def elements(value: Any) -> Iterator[Any]:
    """A list's items, an unknown item as Unread instead of raising."""
    if not is_list(value):
        return
    for index in range(len(value)):
        try:
            yield value[index]
        except UnknownValueError as error:
            yield Unread(error)


def has(value: Any, key: str) -> bool:
    """Whether a map has `key`, without reading its value (`in` on the unknown-checking proxy reads it)."""
    return isinstance(value, Mapping) and key in set(value)
