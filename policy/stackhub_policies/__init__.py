"""The stackhub-ha policy pack's policies, importable without serving the pack.

The pack runs from its own folder (`policy/`, where `stackhub_policies` is top-level); the project imports it as
`policy.stackhub_policies`. Modules: `hub_facts` (the facts the rules count with), one module per domain
(`quotas`, `cluster`, `ingress`, `workloads`, `availability`, `secrets`, `protection`, `public_azure`), `pack`
(the list of policies), `wire` (the analyzer protocol's messages) and `offline` (`evaluate`, the pack in-process).
"""

from .offline import evaluate, mandatory
from .pack import PACK_NAME, POLICIES, build_pack, pack_version
from .wire import PolicyEvent, ProviderReference, StackResource

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
