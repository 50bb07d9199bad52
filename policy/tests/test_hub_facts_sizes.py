"""hub_facts' VM size table and the per-role size rule the stack config and the policies share."""

from __future__ import annotations

import pytest

from policy.stackhub_policies import hub_facts

# One row per family of azure-stack-docs `user/azure-stack-vm-sizes.md`, as that page gives it.
DOCUMENTED = [
    ("Basic_A0", 1, 0.75, 1), ("Standard_A7", 8, 56, 16), ("Standard_A8m_v2", 8, 64, 16), ("Standard_D4", 8, 28, 32),
    ("Standard_DS3", 4, 14, 16), ("Standard_D5_v2", 16, 56, 64), ("Standard_DS2_v2", 2, 7, 8),
    ("Standard_F16", 16, 32, 64), ("Standard_F8s", 8, 16, 32), ("Standard_F64s_v2", 64, 128, 32),
    ("Standard_D14", 16, 112, 64), ("Standard_DS12", 4, 28, 16), ("Standard_D13_v2", 8, 56, 32),
    ("Standard_DS11_v2", 2, 14, 8), ("Standard_D32_v3", 32, 128, 32), ("Standard_DS13-2_v2", 2, 56, 32),
    ("Standard_E16_v3", 16, 128, 32),
]  # fmt: skip


@pytest.mark.parametrize(("name", "vcpus", "memory", "disks"), DOCUMENTED)
def test_each_documented_family_is_in_the_table_with_its_figures(
    name: str, vcpus: int, memory: float, disks: int
) -> None:
    size = hub_facts.VM_SIZES[name]
    assert (size.vcpus, size.memory_gib, size.max_data_disks) == (vcpus, memory, disks)


def test_an_unknown_size_is_named_with_the_closest_known_ones() -> None:
    assert hub_facts.size_problem("Standard_DS2v2", "master") == (
        "is not a VM size Azure Stack Hub offers (hub_facts.VM_SIZES); closest: Standard_DS2_v2, Standard_DS12_v2, "
        "Standard_D2_v2"
    )
    assert hub_facts.size_problem("Standard_NC6s_v3", "agent") == (
        "is not a VM size Azure Stack Hub offers (hub_facts.VM_SIZES)"
    )


@pytest.mark.parametrize(("role", "size"), [("master", "Standard_DS1_v2"), ("agent", "Standard_F2s_v2")])
def test_a_size_too_small_for_its_role_is_refused_with_the_figures_and_the_reason(role: str, size: str) -> None:
    offered = hub_facts.VM_SIZES[size]
    vcpus, memory = hub_facts.ROLE_MINIMUMS[role]
    assert hub_facts.size_problem(size, role) == (
        f"has {offered.vcpus} vCPU and {offered.memory_gib:g} GiB; a {role} needs at least {vcpus} vCPU and "
        f"{memory:g} GiB: {hub_facts.ROLE_MINIMUM_REASONS[role]}"
    )


def test_every_size_at_or_above_a_roles_minimum_is_accepted_for_it() -> None:
    for role in hub_facts.ROLE_MINIMUMS:
        allowed = hub_facts.sizes_for_role(role, hub_facts.VM_SIZES)
        assert allowed
        assert [s for s in allowed if hub_facts.size_problem(s, role) is not None] == []
        refused = sorted(set(hub_facts.VM_SIZES) - set(allowed))
        assert all(hub_facts.size_problem(s, role) for s in refused)


def test_every_role_minimum_gives_its_reason() -> None:
    assert set(hub_facts.ROLE_MINIMUM_REASONS) == set(hub_facts.ROLE_MINIMUMS)
