"""The members' mongosh scripts, run by Node.js against a stand-in for mongosh's shell API.

mongosh runs scripts on Node.js: `process.env` and `require('fs')` are Node's own. The stand-in records what the
script asks of the database (connections, users created), so a test can prove the credentials it uses are the ones
in the mounted Secret files and appear in no environment variable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from workloads.mongo import BACKUP_USER_FILES, CREDENTIAL_FILES, JOIN_SCRIPT, PORT, member_liveness_command

SHELL = """\
const calls = [];
const state = JSON.parse(process.env.FAKE_STATE);
function print() {}
function sleep() {}
function quit(code) { calls.push(['quit', code]); process.exit(code); }
function connect(uri) {
  calls.push(['connect', uri]);
  const db = {
    hello: () => ({ setName: state.setName, isWritablePrimary: true }),
    adminCommand: (command) => {
      calls.push(['adminCommand', Object.keys(command)[0]]);
      return command.replSetGetConfig ? { config: { version: 1, members: state.members } } : { ok: 1 };
    },
    createUser: (spec) => calls.push(['createUser', spec.user, spec.pwd, spec.roles]),
    updateUser: (user, spec) => calls.push(['updateUser', user, spec.pwd]),
    getUser: (user) => (state.users.includes(user) ? { user } : null),
    getSiblingDB: () => db,
  };
  return db;
}
process.on('exit', () => console.log(JSON.stringify(calls)));
"""
DOMAIN = "ratings-mongodb.ratingsapp.svc.cluster.local"
MEMBER_0 = {"_id": 0, "host": f"ratings-mongodb-0.{DOMAIN}:{PORT}"}
SECRETS = {
    "root-username": "root",
    "root-password": "r00t-pw-from-file",
    "app-username": "ratings",
    "app-password": "app-pw-from-file",
}


def node() -> str:
    found = shutil.which("node")
    if found:
        return found
    if os.environ.get("STACKHUB_ALLOW_MISSING_TOOLS") == "1":
        pytest.skip("Node.js is missing (STACKHUB_ALLOW_MISSING_TOOLS=1)")
    pytest.fail("Node.js is missing: `make test` needs it (README, Development)")


def run_join(tmp_path: Path, pod: str, state: dict[str, Any], backup: dict[str, str] | None = None) -> list[Any]:
    """JOIN_SCRIPT as the `member` container of `pod` runs it, with the Secrets mounted as files."""
    credentials = tmp_path / "credentials"
    credentials.mkdir(parents=True)
    for name in CREDENTIAL_FILES:
        (credentials / name).write_text(SECRETS[name])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "POD_NAME": pod,
        "POD_NAMESPACE": "ratingsapp",
        "MEMBER_SERVICE": "ratings-mongodb",
        "STATEFULSET": "ratings-mongodb",
        "MEMBERS": "3",
        "REPLICA_SET": "rs0",
        "MONGODB_PORT": str(PORT),
        "APP_DATABASE": "ratingsdb",
        "CREDENTIALS_DIR": str(credentials),
        "FAKE_STATE": json.dumps(state),
    }
    if backup is not None:
        directory = tmp_path / "backup-user"
        directory.mkdir()
        for name in BACKUP_USER_FILES:
            (directory / name).write_text(backup[name])
        env["BACKUP_USER_DIR"] = str(directory)
    script = tmp_path / "join.js"
    script.write_text(SHELL + JOIN_SCRIPT)
    done = subprocess.run([node(), str(script)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert not any(value in json.dumps(env) for value in SECRETS.values() if len(value) > 8)
    calls: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return calls


def test_member_0_creates_root_and_the_app_user_with_the_passwords_from_the_files(tmp_path: Path) -> None:
    calls = run_join(tmp_path, "ratings-mongodb-0", {"setName": "rs0", "members": [MEMBER_0], "users": []})
    created = {call[1]: call[2] for call in calls if call[0] == "createUser"}
    assert created == {"root": "r00t-pw-from-file", "ratings": "app-pw-from-file"}
    set_uri = next(call[1] for call in calls if call[0] == "connect" and "replicaSet=rs0" in call[1])
    assert set_uri.startswith("mongodb://root:r00t-pw-from-file@ratings-mongodb-0.")
    # Member 0 is already in the configuration: no reconfiguration.
    assert ["adminCommand", "replSetReconfig"] not in calls


def test_a_new_member_adds_itself_and_updates_an_existing_app_user(tmp_path: Path) -> None:
    state = {"setName": "rs0", "members": [MEMBER_0], "users": ["ratings"]}
    calls = run_join(tmp_path, "ratings-mongodb-2", state)
    assert ["adminCommand", "replSetReconfig"] in calls
    assert ["updateUser", "ratings", "app-pw-from-file"] in calls
    assert not [call for call in calls if call[0] == "createUser"]


def test_the_backup_user_comes_from_its_own_secret_files_only_where_mounted(tmp_path: Path) -> None:
    state = {"setName": "rs0", "members": [MEMBER_0], "users": []}
    without = run_join(tmp_path / "off", "ratings-mongodb-1", state)
    assert [call[1] for call in without if call[0] == "createUser"] == ["ratings"]
    backup = {"username": "backup", "password": "backup-pw-from-file"}
    calls = run_join(tmp_path / "on", "ratings-mongodb-1", state, backup)
    created = {call[1]: (call[2], call[3]) for call in calls if call[0] == "createUser"}
    assert created["backup"] == ("backup-pw-from-file", [{"role": "backup", "db": "admin"}])


@pytest.fixture
def fake_mongosh(tmp_path: Path) -> Path:
    """A `mongosh` on Node.js that records its arguments and runs its --eval with `hello` from FAKE_SET_NAME."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mongosh = bin_dir / "mongosh"
    mongosh.write_text(
        f"#!{node()}\n"
        "const args = process.argv.slice(2);\n"
        f"require('fs').writeFileSync({json.dumps(str(tmp_path / 'mongosh-args'))}, JSON.stringify(args));\n"
        "function quit(code) { process.exit(code); }\n"
        "const db = { hello: () => (process.env.FAKE_SET_NAME ? { setName: process.env.FAKE_SET_NAME } : {}) };\n"
        "eval(args[args.indexOf('--eval') + 1]);\n"
    )
    mongosh.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(("joined", "set_name", "alive"), [(False, "", True), (True, "rs0", True), (True, "", False)])
def test_the_member_liveness_probe_fails_only_for_a_joined_member_without_a_set(
    tmp_path: Path, fake_mongosh: Path, joined: bool, set_name: str, alive: bool
) -> None:
    node()
    command = member_liveness_command()
    marker = tmp_path / "joined"
    if joined:
        marker.touch()
    # The probe's own command, with the marker moved into this test's directory.
    script = command[-1].replace("/tmp/joined", str(marker))
    env = {"PATH": f"{fake_mongosh}:{os.environ.get('PATH', '')}", "FAKE_SET_NAME": set_name}
    done = subprocess.run([*command[:-1], script], env=env, capture_output=True, text=True, check=False)
    assert (done.returncode == 0) is alive, done.stderr
    args_file = tmp_path / "mongosh-args"
    if joined:
        assert f"mongodb://127.0.0.1:{PORT}/?directConnection=true" in json.loads(args_file.read_text())
    else:
        assert not args_file.exists()
