"""Stack files read the way Pulumi reads them, for the offline engine (the CLI reads them before any program runs).

A broken file is refused with each problem on a line of its own, `Pulumi.<stack>.yaml:<line>: <problem>`, like a
compiler's: YAML syntax, a top level that is not a mapping, a `config:` that is not one, a key outside
`<namespace>:<name>`, a key given twice, a key with no value. This lives with the engine, not the program: a
`--diff` runs this engine over an older program.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


class StackFileError(Exception):
    """A stack file that is not a stack file: broken YAML, or a structure Pulumi cannot read. One line per problem,
    `Pulumi.<stack>.yaml:<line>: <problem>`, like a compiler's."""

    def __init__(self, file: str, located: Iterable[tuple[int, str]]) -> None:
        self.file = file
        self.stack = file.removeprefix("Pulumi.").removesuffix(".yaml")
        self.located = sorted(located)
        super().__init__("\n".join(f"{file}:{line}: {problem}" for line, problem in self.located))


STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
"""What a `Pulumi.<stack>.yaml` may hold at its top level (Pulumi's ProjectStack)."""
_CONFIG_KEY = re.compile(r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.:-]+$")


def read_stack_config(path: Path, project: str = "<project>") -> dict[str, Any]:
    """The `config:` mapping of a stack file, values as written (`secure:` values still encrypted).

    Pulumi refuses a broken stack file before any program runs; this reads one the same way for everything that
    reads stack files itself (the offline engine), and says where the file is wrong: YAML syntax, a top level that
    is not a mapping, a `config:` that is not one, a key outside `<namespace>:<name>`, a key given twice, a key
    with no value (YAML's null, which would reach the program as the text "null").
    """
    file = path.name
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        if error.context_mark is not None and (mark is None or mark.index >= len(text.rstrip())):
            # Found only at the end of the file (a bracket or quote never closed): point at where it opened.
            mark = error.context_mark
        where = f" ({error.context})" if error.context else ""
        line = mark.line + 1 if mark is not None else 1
        raise StackFileError(file, [(line, f"not valid YAML: {error.problem}{where}")]) from None
    except yaml.YAMLError as error:
        raise StackFileError(file, [(1, f"not valid YAML: {error}")]) from None
    if root is None or _is_null(root):
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise StackFileError(file, [(_line(root), f"a stack file is a mapping with a `config:` section, not "
                                                  f"{_kind(root)}")])  # fmt: skip
    problems: list[tuple[int, str]] = []
    config: yaml.Node | None = None
    for key, line, value, duplicate in _entries(root, problems):
        if key not in STACK_FILE_KEYS:
            close = difflib.get_close_matches(key, STACK_FILE_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (a stack file holds {', '.join(STACK_FILE_KEYS)})"
            problems.append((line, f"unknown top-level key '{key}'{hint}"))
        elif key == "config" and not duplicate:
            config = value
    if config is not None and not _is_null(config):
        if not isinstance(config, yaml.MappingNode):
            problems.append((_line(config), f"`config` must be a mapping of <namespace>:<key>: <value>, not "
                                            f"{_kind(config)}"))  # fmt: skip
        else:
            problems += _config_problems(config, project)
    if problems:
        raise StackFileError(file, problems)
    document = yaml.safe_load(text)
    return dict(document.get("config") or {})


def _entries(mapping: yaml.MappingNode, problems: list[tuple[int, str]]) -> list[tuple[str, int, yaml.Node, bool]]:
    """The mapping's (key, its line, value node, is a repeat) entries; a key that is not text is a problem."""
    seen: dict[str, int] = {}
    entries = []
    for key_node, value_node in mapping.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
            problems.append((line, f"a key must be text, not {_kind(key_node)}"))
            continue
        key = str(key_node.value)
        if key in seen:
            problems.append(
                (line, f"'{key}' is given twice (first at line {seen[key]}); Pulumi refuses a repeated key")
            )
        entries.append((key, line, value_node, key in seen))
        seen.setdefault(key, line)
    return entries


def _config_problems(config: yaml.MappingNode, project: str) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    for key, line, value, _ in _entries(config, problems):
        if not _CONFIG_KEY.match(key):
            problems.append((line, f"config key '{key}' must be <namespace>:<name>, e.g. {project}:{key}"))
        elif _is_null(value):
            problems.append((line, f"'{key}' has no value (YAML reads an empty value as null); give it one or "
                                   "remove the line"))  # fmt: skip
        elif isinstance(value, yaml.MappingNode) and "secure" in [k.value for k, _ in value.value]:
            secure = {k.value: v for k, v in value.value}
            if len(secure) != 1 or not isinstance(secure["secure"], yaml.ScalarNode) or _is_null(secure["secure"]):
                problems.append((line, f"'{key}' must be `secure: <ciphertext>` and nothing else; set it with "
                                       f"`pulumi config set --secret {key.split(':', 1)[-1]}`"))  # fmt: skip
    return problems


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return f"the value {node.value!r}" if node.value != "" else "an empty value"
