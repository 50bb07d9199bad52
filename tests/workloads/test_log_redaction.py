"""No MongoDB credential leaves the cluster in a log record: the Fluent Bit filter, run by the engine Fluent Bit embeds.

Fluent Bit runs Lua filters on LuaJIT 2.1. These tests run the shipped script on LuaJIT 2.1 too, in process, through
`lupa` (a PyPI wheel that bundles LuaJIT), calling the filter function exactly as Fluent Bit's `lua` filter calls
it: `(tag, timestamp, record)` in, `(code, timestamp, record)` out. Without lupa they fail, unless
STACKHUB_ALLOW_MISSING_TOOLS=1 says this machine may skip them.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from workloads.log_shipping import (
    REDACT_CREDENTIALS_LUA,
    REDACTION_FUNCTION,
    REDACTION_SCRIPT,
    SCRIPTS_DIR,
    IngestionTarget,
    container_log_values,
    event_values,
)
from workloads.mongo import connection_uri, member_hosts

TARGET = IngestionTarget(
    endpoint="https://shared-dce.westeurope-1.ingest.monitor.azure.com",
    dcr_immutable_id="dcr-0123456789abcdef0123456789abcdef",
    container_log_stream="Custom-ContainerLogs_CL",
    event_stream="Custom-KubeEvents_CL",
)
PASSWORD = "Pa55:w/rd@#%?x"
"""Every character a URI must escape in its user information: `connection_uri` percent-encodes them."""
HOSTS = member_hosts(3, "ratings-mongodb", "ratings-mongodb", "ratingsapp")
URI = connection_uri("ratings", PASSWORD, HOSTS)

Filter = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def luajit() -> ModuleType:
    try:
        return importlib.import_module("lupa.luajit21")
    except ImportError:
        if os.environ.get("STACKHUB_ALLOW_MISSING_TOOLS") == "1":
            pytest.skip("lupa is missing (STACKHUB_ALLOW_MISSING_TOOLS=1): `pip install lupa` brings LuaJIT 2.1")
        pytest.fail(
            "lupa (LuaJIT 2.1 for Python) is missing: `pip install lupa`; or set STACKHUB_ALLOW_MISSING_TOOLS=1"
        )


def to_python(value: Any, lua: ModuleType) -> Any:
    """A Lua value as Python: tables with keys 1..n become lists (as Fluent Bit packs them), others dicts."""
    if lua.lua_type(value) != "table":
        return value
    items = {key: to_python(item, lua) for key, item in value.items()}
    if items and set(items) == set(range(1, len(items) + 1)):
        return [items[index] for index in range(1, len(items) + 1)]
    return items


@pytest.fixture(scope="module")
def redact() -> Filter:
    lua = luajit()
    runtime = lua.LuaRuntime(unpack_returned_tuples=True)
    assert str(runtime.eval("jit.version")).startswith("LuaJIT 2.1")
    runtime.execute(REDACT_CREDENTIALS_LUA)
    function = runtime.globals()[REDACTION_FUNCTION]

    def call(record: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        code, timestamp, result = function("kube.var.log.containers.x", 1700000000.25, runtime.table_from(
            record, recursive=True))  # fmt: skip
        assert timestamp == 1700000000.25
        return int(code), to_python(result, lua)

    return call


def record(line: str) -> dict[str, Any]:
    """A container log record as the `kubernetes` filter leaves it, the line also in merged and nested fields."""
    return {
        "log": line,
        "stream": "stdout",
        "kubernetes": {"namespace_name": "ratingsapp", "pod_name": "ratings-api-7d9f-x2x4z"},
        "error": {"message": line, "stack": ["at connect (app.js:12)", line]},
        "attempt": 3,
        "ok": False,
        "hub": "hub-seattle",
    }


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


# What ratings-api prints (its app.js logs the whole MONGODB_URI on connecting and on failing) and other forms.
LEAKS = {
    "on connect": (f"Connected to database {URI}", "ratings:"),
    "on failure": (f"Failed to connect to {URI} on startup - retrying in 5 sec", "ratings:"),
    "srv": ("mongodb+srv://svc-ratings:Tr0ub4dor@cluster0.contoso.net/?retryWrites=true", "Tr0ub4dor"),
    "scheme in upper case": ("MONGODB://admin:Hunter2x@db.contoso.local:27017/admin", "Hunter2x"),
    "unescaped @ and quote": ('uri=mongodb://app:p@ss"w0rd@db:27017/x', 'ss"w0rd'),
    "two in one line": ("mongodb://a:FirstPw1@h1/x then mongodb://b:SecondPw2@h2/y", "Pw"),
    "inside JSON text": ('{"msg":"connect","uri":"mongodb://u:JsonPw99@h/db"}', "JsonPw99"),
}


@pytest.mark.parametrize("case", LEAKS)
def test_credentials_are_redacted_in_every_field_at_every_depth(redact: Filter, case: str) -> None:
    line, secret = LEAKS[case]
    code, result = redact(record(line))
    assert code == 2, "a changed record must be returned with code 2 (keep the timestamp)"
    assert [text for text in strings(result) if secret in text] == []
    for text in (result["log"], result["error"]["message"], result["error"]["stack"][1]):
        assert re.search(r"mongodb(\+srv)?://\*\*\*@", text, flags=re.IGNORECASE), text
    # Everything else is left as it was, types included.
    assert {k: v for k, v in result.items() if k not in ("log", "error")} == {
        k: v for k, v in record(line).items() if k not in ("log", "error")
    }
    assert result["error"]["stack"][0] == "at connect (app.js:12)"


def test_the_application_uri_keeps_its_hosts_and_options_and_loses_its_user(redact: Filter) -> None:
    _, result = redact(record(f"Connected to database {URI}"))
    hosts_and_options = URI.split("@", 1)[1]
    assert result["log"] == f"Connected to database mongodb://***@{hosts_and_options}"
    assert [text for text in strings(result) if "ratings:" in text or "Pa55" in text] == []


@pytest.mark.parametrize(
    "line",
    [
        "Listening on port 3000",
        "mongodb://ratings-mongodb-0.ratings-mongodb:27017/ratingsdb?replicaSet=rs0",
        "user admin@contoso.com signed in",
        "mongodb://h:27017/db failed for operator@contoso.com",
        "",
    ],
)
def test_records_without_credentials_are_left_untouched(redact: Filter, line: str) -> None:
    code, result = redact(record(line))
    assert code == 0
    assert result == record(line)


def test_the_script_keeps_out_of_helm_templating() -> None:
    # The chart renders `luaScripts` through `tpl`: `{{` would be read as a template action.
    assert "{{" not in REDACT_CREDENTIALS_LUA


def _filters(config: str) -> list[dict[str, str]]:
    sections = [part for part in config.split("[FILTER]") if part.strip()]
    return [dict(line.split(None, 1) for line in part.strip().splitlines()) for part in sections]


@pytest.mark.parametrize("build", [container_log_values, event_values])
def test_both_releases_redact_every_record_last_before_output(build: Callable[..., dict[str, Any]]) -> None:
    values = build(TARGET, hub_name="hub-seattle", secret_name="logs")
    filters = _filters(values["config"]["filters"])
    assert filters[-1] == {
        "Name": "lua",
        "Match": "*",
        "script": f"{SCRIPTS_DIR}/{REDACTION_SCRIPT}",
        "call": REDACTION_FUNCTION,
    }
    assert [f["Name"] for f in filters].count("lua") == 1
    # The chart mounts every `luaScripts` entry under /fluent-bit/scripts/ (templates/_pod.tpl).
    assert values["luaScripts"] == {REDACTION_SCRIPT: REDACT_CREDENTIALS_LUA}
    assert SCRIPTS_DIR == "/fluent-bit/scripts"
