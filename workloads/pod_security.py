"""The restricted Pod Security Standard checks: they live in the policy pack, the one place for the rule
(policy/stackhub_policies/pod_security.py), which enforces them on every stack; the tests of the workloads call
the same functions."""

from policy.stackhub_policies.pod_security import all_containers, restricted_violations

__all__ = ["all_containers", "restricted_violations"]
