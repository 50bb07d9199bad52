"""The stackhub-ha policy pack's policies, importable without serving the pack.

The pack runs from its own folder (`policy/`, where `stackhub_policies` is top-level); the project imports it as
`policy.stackhub_policies`. Modules: `hub_facts` (the facts the rules count with), one module per domain
(`quotas`, `cluster`, `ingress`, `workloads`, `availability`, `secrets`, `protection`, `public_azure`), `pack`
(the list of policies), `wire` (the analyzer protocol's messages) and `offline` (`evaluate`, the pack in-process).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .offline import evaluate, mandatory
    from .pack import PACK_NAME, POLICIES, build_pack, pack_version
    from .wire import PolicyEvent, ProviderReference, StackResource

# Loaded on first use, so that the project can import `hub_facts` without pulumi_policy (the AKS Engine
# lifecycle and the dynamic-provider host read the facts too).
_FROM = {
    "evaluate": ".offline", "mandatory": ".offline", "PACK_NAME": ".pack", "POLICIES": ".pack",
    "build_pack": ".pack", "pack_version": ".pack", "PolicyEvent": ".wire", "ProviderReference": ".wire",
    "StackResource": ".wire",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _FROM:
        return getattr(importlib.import_module(_FROM[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PACK_NAME",
    "POLICIES",
    "PolicyEvent",
    "ProviderReference",
    "StackResource",
    "build_pack",
    "evaluate",
    "mandatory",
    "pack_version",
]
