"""Make a chart's values schema self-contained, for a hub whose `pulumi up` machine has no internet.

`python -m workloads.values_schema inline SCHEMA URL DOCUMENT` (docs/platform.md, mirroring the charts): the
nginx-ingress chart's `values.schema.json` refers to Kubernetes definitions by remote `$ref`
(raw.githubusercontent.com), which Helm downloads while it validates the values. With the downloaded document
inlined, the repackaged chart validates offline.

Checking Helm values against the charts' schemas is the tests' job (`tests/workloads/values_schema.py`): the
program never runs it, `helm install` does it itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

INLINED = "inlined"
"""Key under `$defs` where `inline_remote_refs` puts a downloaded document."""


def inline_remote_refs(schema: Any, url: str, document: Mapping[str, Any]) -> Any:
    """The schema with every `$ref` to `url` pointing at a copy of `document` inside it (`#/$defs/inlined`).

    This is how the nginx-ingress chart is made installable offline: download the one document its schema refers
    to (`_definitions.json`), inline it, repackage the chart. The document's own `#/...` references are rewritten
    to stay inside the copy.
    """

    def rewrite(node: Any, inside_document: bool) -> Any:
        if isinstance(node, dict):
            result = {}
            for key, value in node.items():
                result[key] = rewrite(value, inside_document)
                if key == "$ref" and isinstance(value, str):
                    target, _, fragment = value.partition("#")
                    if target == url or (inside_document and not target):
                        result[key] = f"#/$defs/{INLINED}{fragment}"
            return result
        if isinstance(node, list):
            return [rewrite(v, inside_document) for v in node]
        return node

    inlined = rewrite(schema, inside_document=False)
    inlined.setdefault("$defs", {})[INLINED] = rewrite(dict(document), inside_document=True)
    return inlined


def main(argv: list[str] | None = None) -> int:
    """`python -m workloads.values_schema inline SCHEMA URL DOCUMENT`: print SCHEMA with DOCUMENT inlined."""
    parser = argparse.ArgumentParser(prog="python -m workloads.values_schema")
    commands = parser.add_subparsers(dest="command", required=True)
    inline = commands.add_parser("inline", help="make a chart's values schema self-contained")
    inline.add_argument("schema", type=Path, help="the chart's values.schema.json")
    inline.add_argument("url", help="the remote document its $refs name (without #fragment)")
    inline.add_argument("document", type=Path, help="that document, downloaded")
    args = parser.parse_args(argv)
    schema = json.loads(args.schema.read_text())
    document = json.loads(args.document.read_text())
    json.dump(inline_remote_refs(schema, args.url, document), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
