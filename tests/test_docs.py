"""The README is the front page and `docs/` the reference; these tests keep them true to the code and to each other.

- docs/configuration.md documents every config key each role's model accepts, and no key that does not exist;
  every `secure:` key of the committed stack files is in its "Secrets" table.
- Every relative link in README.md and docs/*.md points at a file that exists, and at a heading that exists when it
  names an anchor (GitHub's heading slugs).
- README.md's first code block is exactly the two set-up commands, and README.md links every doc.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from preview.engine import PROJECT_DIR
from stacks.config import StackConfig
from stacks.global_stack import GlobalConfig, HubEntry
from stacks.hub import HubConfig
from stacks.shared import SharedConfig

README = PROJECT_DIR / "README.md"
DOCS = sorted((PROJECT_DIR / "docs").glob("*.md"))
CONFIGURATION = PROJECT_DIR / "docs" / "configuration.md"
PAGES = [README, *DOCS]

FENCE = re.compile(r"^ *(```|~~~).*?^ *\1[^\n]*$", flags=re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^(#{1,6}) +(.+?) *#* *$", flags=re.MULTILINE)


def prose(text: str) -> str:
    """The text without fenced code blocks (a `# comment` in a shell block is not a heading)."""
    return FENCE.sub("", text)


def section(text: str, marker: str) -> str:
    """The section whose heading contains `marker`, up to the next heading of the same or a higher level."""
    body = prose(text)
    headings = list(HEADING.finditer(body))
    for i, heading in enumerate(headings):
        if marker in heading.group(2):
            level = len(heading.group(1))
            end = next((h.start() for h in headings[i + 1 :] if len(h.group(1)) <= level), len(body))
            return body[heading.end() : end]
    raise AssertionError(f"no heading containing {marker!r}")


def table_keys(text: str, prefix: str = "", note: str = "") -> set[str]:
    """The keys in the first column of the tables in `text`: rows `| \\`<prefix><key>\\` | ...`, or with `note`
    a regex, rows `| \\`<key>\\` <note> | ...` (the Secrets table says which stacks: `(hubs)`)."""
    pattern = rf"^\| `{re.escape(prefix)}([A-Za-z]+)`{note} \|"
    return set(re.findall(pattern, text, flags=re.MULTILINE))


def model_keys(model: type[StackConfig]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


# --- the configuration reference --------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "model"), [("hub", HubConfig), ("shared", SharedConfig), ("global", GlobalConfig)])
def test_every_config_key_of_each_role_is_documented(role: str, model: type[StackConfig]) -> None:
    documented = table_keys(section(CONFIGURATION.read_text(), f"(`role: {role}`)"))
    assert documented == model_keys(model)


def test_every_hub_entry_setting_of_the_global_stack_is_documented() -> None:
    documented = table_keys(section(CONFIGURATION.read_text(), "(`role: global`)"), prefix="hubs[].")
    assert documented == {field.alias or name for name, field in HubEntry.model_fields.items()}


def test_every_secret_key_of_the_stack_files_is_in_the_secrets_table() -> None:
    documented = table_keys(section(CONFIGURATION.read_text(), "Secrets"), note=r"(?: \([^)|]*\))?")
    secret_keys = {
        key.split(":", 1)[1]
        for stack_file in PROJECT_DIR.glob("Pulumi.*.yaml")
        for key, value in (yaml.safe_load(stack_file.read_text()).get("config") or {}).items()
        if isinstance(value, dict) and "secure" in value
    }
    assert secret_keys
    assert secret_keys <= documented


# --- links ----------------------------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`\n]*`")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.finditer(prose(page.read_text())):
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def relative_links(page: Path) -> list[str]:
    text = INLINE_CODE.sub("", prose(page.read_text()))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def test_the_pages_are_there() -> None:
    names = {p.name for p in DOCS}
    assert {"configuration.md", "operations.md", "review.md", "cluster.md", "platform.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_every_relative_link_points_at_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / unquote(path)).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert broken == []


def test_the_link_checker_sees_links_and_anchors() -> None:
    # Guards the checker itself: a regex that matched nothing would pass every page.
    assert any("#" in t for t in relative_links(PROJECT_DIR / "docs" / "review.md"))
    assert "hub-stacks-role-hub" in anchors(CONFIGURATION)
    assert slug("How the offline preview differs from `pulumi preview`") == (
        "how-the-offline-preview-differs-from-pulumi-preview"
    )
    assert slug('"(known after pulumi up)"') == "known-after-pulumi-up"


# --- the front page -------------------------------------------------------------------------------------------


def test_the_readme_s_first_code_block_is_exactly_the_two_set_up_commands() -> None:
    first = re.search(r"^```[^\n]*\n(.*?)^```", README.read_text(), flags=re.MULTILINE | re.DOTALL)
    assert first is not None
    commands = [line.split("#", 1)[0].strip() for line in first.group(1).splitlines()]
    assert [c for c in commands if c] == ["make preview", "make test"]
    makefile = (PROJECT_DIR / "Makefile").read_text()
    assert re.search(r"^preview:", makefile, flags=re.MULTILINE)
    assert re.search(r"^test:", makefile, flags=re.MULTILINE)


def test_the_readme_links_every_doc() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    assert [d.name for d in DOCS if d.resolve() not in linked] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_every_page_has_one_title(page: Path) -> None:
    assert len([h for h in HEADING.finditer(prose(page.read_text())) if h.group(1) == "#"]) == 1
