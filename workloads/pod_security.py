"""Transitional (issue 12): delete once no test imports from here.

The restricted Pod Security Standard checks live in the policy pack, the one place for the rule
(policy/stackhub_policies/pod_security.py), which enforces them on every stack. Tests import them from there; this
module only forwards them for the tests that still import `workloads.pod_security`.
"""

from policy.stackhub_policies.pod_security import all_containers, restricted_violations

__all__ = ["all_containers", "restricted_violations"]
