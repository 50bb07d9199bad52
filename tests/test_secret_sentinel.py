"""No secret leaves in any output: every preview format, the `--out` artifacts, an update's diff, the lifecycle's
stderr and log.

The sentinels are every secret the programs hold in an offline deployment of each shipped stack: the secret
config keys (`secure:` values, which the offline engine hands the program as `offline-secret-<key>`) and
every secret a provider generates or a stack derives from them (passwords, keys, SAS tokens, connection
strings, kubeconfigs). A value is looked for as it is, base64-encoded (Kubernetes Secret `data`) and, for
multi-line values such as PEM keys, line by line.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aksengine.lifecycle import ClusterState
from preview.__main__ import main as preview_main
from preview.engine import SECRET_SIG, SIG_KEY, is_secret, run_stack_with_references, stack_config, stack_names
from tests.aksengine.testkit import CLIENT_SECRET, make_settings, run_lifecycle

STACKS = stack_names()
SHORTEST = 8
"""Shorter secret values would match by chance. The only ones are user names that travel in a Kubernetes Secret
beside their password (the whole `stringData` is secret); any other short one fails the test, to be looked at."""
USER_NAMES = {"ratings", "root", "backup", "azureuser"}


def _secret_leaves(value: Any, inside: bool = False) -> Iterator[str]:
    if is_secret(value):
        yield from _secret_leaves(value["value"], True)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_leaves(item, inside)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_leaves(item, inside)
    elif inside and isinstance(value, str):
        yield value


def _plain_config_values() -> set[str]:
    """Every string the stack files hold in plain text (not `secure:`)."""
    public: set[str] = set()
    for stack in STACKS:
        values, secret_keys = stack_config(stack)
        for key, value in values.items():
            if key not in secret_keys:
                public.update(v for k, v in _walk(value) if isinstance(v, str))
    return public


def _forms(secret: str) -> set[str]:
    forms = {secret, base64.b64encode(secret.encode()).decode()}
    forms |= {line.strip() for line in secret.splitlines() if len(line.strip()) >= 16 and "-----" not in line}
    return forms


@pytest.fixture(scope="module")
def sentinels() -> dict[str, set[str]]:
    """Each stack's secret values in an offline deployment, in every form looked for."""
    found: dict[str, set[str]] = {}
    deployed: dict[str, dict[str, Any]] = {}
    public = _plain_config_values()
    for stack in STACKS:
        run = run_stack_with_references(stack, mode="up", deployed=deployed)
        values: set[str] = set()
        for registration in run.resources:
            values.update(_secret_leaves(registration.inputs))
            values.update(_secret_leaves(registration.state))
        values.update(_secret_leaves(run.outputs))
        values -= public  # a tenant or client id put in a Kubernetes Secret beside a secret is not one itself
        short = {v for v in values if len(v) < SHORTEST}
        assert short <= USER_NAMES, f"{stack}: secret values too short to look for: {len(short - USER_NAMES)}"
        found[stack] = {form for value in values - short for form in _forms(value)}
    return found


def test_the_sentinels_cover_config_secrets_and_generated_ones(sentinels: dict[str, set[str]]) -> None:
    seattle = sentinels["hub-seattle"]
    # Config secrets, as the offline engine decrypts them...
    assert {"offline-secret-armClientSecret", "offline-secret-backupVerificationKey"} <= seattle
    # ...and what providers generate (a PEM private key line, passwords): far more than the config holds.
    assert any(len(s) > 40 for s in seattle)
    assert len(seattle) > 20
    assert "offline-secret-registryPullPassword" in sentinels["shared"]


def _leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s[:12] + "..." for s in secrets if s in text)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = preview_main(argv)
    captured = capsys.readouterr()
    assert code in (0, 2), f"{argv}: exit {code}\n{captured.err[-2000:]}"
    return captured.out + captured.err


@pytest.mark.parametrize("stack", STACKS)
def test_no_preview_format_and_no_artifact_holds_a_secret(
    stack: str, sentinels: dict[str, set[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Every stack's secrets: a stack that reads another (the global stack reads every hub) must not show its secrets.
    secrets = set().union(*sentinels.values())
    printed = {fmt: _run([stack, *flag], capsys) for fmt, flag in FORMATS.items()}
    printed["out"] = _run([stack, "--out", str(tmp_path / "out")], capsys)
    for fmt, text in printed.items():
        assert not _leaks(text, secrets), f"{stack} {fmt}"
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    if stack.startswith("hub-"):
        assert len(written) > 20  # manifests, Helm values, the apimodel and the ARM requests
    for path in written:
        assert not _leaks(path.read_text(encoding="utf-8", errors="replace"), secrets), path.name


FORMATS = {"tree": [], "json": ["--json"], "markdown": ["--markdown"], "mermaid": ["--mermaid"]}


def _rotate(value: Any) -> Any:
    """Every secret in a saved state replaced by another value of the same shape ("old-" + the value)."""
    if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
        return {**value, "plaintext": json.dumps(_old(json.loads(value["plaintext"])))}
    if isinstance(value, dict):
        return {k: _rotate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rotate(v) for v in value]
    return value


def _old(value: Any) -> Any:
    if isinstance(value, str):
        return f"old-{value}"
    if isinstance(value, dict):
        return {k: _old(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_old(v) for v in value]
    return value


def test_an_update_that_rotates_every_secret_shows_neither_old_nor_new_values(
    sentinels: dict[str, set[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    saved = tmp_path / "seattle.json"
    _run(["hub-seattle", "--up", "--save-state", str(saved)], capsys)
    document = json.loads(saved.read_text())
    rotated = _rotate(document)
    assert rotated != document
    saved.write_text(json.dumps(rotated))
    old = {f"old-{s}" for s in sentinels["hub-seattle"] if not re.fullmatch(r"[A-Za-z0-9+/=]+", s) or len(s) < 60}
    for flag in ([], ["--json"], ["--markdown"]):
        text = _run(["hub-seattle", "--state", str(saved), *flag], capsys)
        assert "changed (secret)" in text or "[secret]" in text or flag == []
        assert not _leaks(text, sentinels["hub-seattle"] | old), flag


def test_the_lifecycle_says_nothing_secret_on_stderr_or_in_its_log(tmp_path: Path) -> None:
    log = tmp_path / "lifecycle.log"
    created = run_lifecycle("create", tmp_path, make_settings(), extra_env={"AKSENGINE_LOG_FILE": str(log)})
    assert created.returncode == 0, created.stderr
    state = ClusterState.from_json(created.stdout)
    scaled = run_lifecycle(
        "update",
        tmp_path,
        make_settings(agent_count=4),
        previous=created.stdout,
        extra_env={"AKSENGINE_LOG_FILE": str(log)},
    )
    assert scaled.returncode == 0, scaled.stderr
    secrets = _forms(CLIENT_SECRET) | _forms(state.kubeconfig)
    secrets |= {v for v in _secret_strings(state.apimodel) if len(v) >= SHORTEST}
    for text in (created.stderr, scaled.stderr, log.read_text() if log.exists() else ""):
        assert not _leaks(text, secrets)
    assert "scale" in scaled.stderr.lower()


def _secret_strings(apimodel: dict[str, Any]) -> Iterator[str]:
    """The apimodel's secret fields (what AKS Engine generates and the lifecycle keeps): keys, certificates'
    private halves, the service principal secret."""
    for key, value in _walk(apimodel):
        if isinstance(value, str) and re.search(r"(?i)(secret|privatekey|password|token)$", key):
            yield value


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


# --- every secret config key, including those the shipped stack files leave unset -----------------------------

PROXY_PASSWORD = "Pr0xy-Sentinel-Pa55"
TARGET_SIG = "hubTargetSentinelSignature0123456789"


def _hub_with_every_secret() -> tuple[dict[str, Any], set[str]]:
    """hub-denver with backups to its own storage and a credentialed egress proxy: every secret key of a hub set."""
    values, _ = stack_config("hub-seattle")
    denver, denver_secrets = stack_config("hub-denver")
    key = "stackhub-ha:{}".format
    config = {
        **denver,
        key("backupRecipients"): values[key("backupRecipients")],
        key("backupVerificationKey"): values[key("backupVerificationKey")],
        key("backupTarget"): {
            "containerUrl": "https://denverbackups.blob.denver.hub.contoso.local/ratings-backups",
            "profile": "azurestack",
        },
        key("backupTargetSas"): f"sv=2019-07-07&sr=c&sp=rcwl&se=2030-01-01T00:00:00Z&spr=https&sig={TARGET_SIG}",
        key("backupEgress"): ["10.30.0.0/24"],
        key("egressProxy"): {"httpProxy": f"http://svc-egress:{PROXY_PASSWORD}@10.20.8.4:3128"},
        key("egressNodeImage"): "registry.denver.hub.contoso.local/python:3.12.8-slim",
    }
    secret_keys = denver_secrets | {key(k) for k in ("backupVerificationKey", "backupTargetSas", "egressProxy")}
    return config, secret_keys


def test_every_secret_config_key_of_a_hub_stays_out_of_every_output(tmp_path: Path) -> None:
    from preview.digest import build_digest  # noqa: PLC0415
    from preview.manifests import write_artifacts  # noqa: PLC0415
    from preview.markdown import render_comment  # noqa: PLC0415
    from preview.mermaid import render_graph  # noqa: PLC0415
    from preview.render import as_tree  # noqa: PLC0415
    from tests.conftest import shared_outputs  # noqa: PLC0415

    config, secret_keys = _hub_with_every_secret()
    needles = {PROXY_PASSWORD, TARGET_SIG, "offline-secret-armClientSecret", "offline-secret-backupVerificationKey"}
    for mode in ("preview", "up"):
        run = run_stack_with_references_config(config, secret_keys, shared_outputs(), mode)
        digest = build_digest(run)
        texts = {
            "tree": as_tree(run),
            "json": json.dumps(digest, default=str),
            "markdown": render_comment(digest, limit=65_536),
            "mermaid": render_graph(digest, changed_only=False),
        }
        written = write_artifacts(run, tmp_path / mode)
        texts |= {p.name: p.read_text(encoding="utf-8", errors="replace") for p in written}
        assert len(written) > 20
        for name, text in texts.items():
            assert not _leaks(text, {f for n in needles for f in _forms(n)}), f"{mode} {name}"
        # The proxy's password did reach the run (as secrets), so the test looks where it could be.
        assert any(PROXY_PASSWORD in json.dumps(r.inputs, default=str) for r in run.resources)


def run_stack_with_references_config(
    config: dict[str, Any], secret_keys: set[str], shared: dict[str, Any], mode: str
) -> Any:
    from preview.engine import run_stack  # noqa: PLC0415

    return run_stack("hub-denver", config=config, secret_keys=secret_keys, stack_outputs={"shared": shared}, mode=mode)  # type: ignore[arg-type]
