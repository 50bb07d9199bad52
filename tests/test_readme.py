"""The README documents every config key each role's model accepts, and no key that does not exist."""

from __future__ import annotations

import re

from preview.engine import PROJECT_DIR
from stacks.config import StackConfig
from stacks.global_stack import GlobalConfig, HubEntry
from stacks.hub import HubConfig
from stacks.shared import SharedConfig

README = (PROJECT_DIR / "README.md").read_text()


def documented_keys(role: str) -> set[str]:
    section = README.split(f"(`role: {role}`)", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z]+)` \|", section, flags=re.MULTILINE))


def model_keys(model: type[StackConfig]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_hub_keys_are_documented() -> None:
    assert documented_keys("hub") == model_keys(HubConfig)


def test_shared_keys_are_documented() -> None:
    assert documented_keys("shared") == model_keys(SharedConfig)


def test_global_keys_are_documented() -> None:
    assert documented_keys("global") == model_keys(GlobalConfig)


def test_every_hub_entry_setting_of_the_global_stack_is_documented() -> None:
    section = README.split("(`role: global`)", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `hubs\[\]\.([A-Za-z]+)` \|", section, flags=re.MULTILINE))
    assert documented == {field.alias or name for name, field in HubEntry.model_fields.items()}
