"""The ratings database: a MongoDB replica set of the official `mongo` image, one member per worker.

How the set comes up, with no operator and no credentials outside Kubernetes Secrets:
- every member runs `mongod --replSet --keyFile` directly (not the image's entrypoint, whose first-start user
  creation runs on a throwaway standalone server on every member);
- a `member` container beside each mongod runs `MEMBER_SCRIPT`, which waits for the local mongod, then runs
  `JOIN_SCRIPT` until it succeeds and only then marks the pod ready. Member 0 initiates a one-member set if none
  exists and creates the root user through MongoDB's localhost exception (allowed only while no user exists);
  every member then connects to the set as root, adds itself if it is not in the configuration, and creates or
  updates the application user. Every step checks before it acts, so reruns and restarts are harmless;
- the StatefulSet starts members in order and waits for each to be ready (joined), so two members never
  reconfigure the set at once;
- credentials reach the `member` container as files of mounted Secrets, never as environment variables (which the
  container runtime keeps in the container's configuration, and every child process inherits): `JOIN_SCRIPT` reads
  them with mongosh's `fs` module;
- once joined, the `member` container's liveness probe checks that the local mongod still has a replica-set
  configuration (`hello().setName`: absent on a member removed from the set); restarting the container joins it
  again. Before it has joined, its own retry loop is what keeps it going, so the probe passes.

Pod disruption budget: `minAvailable` is the voting majority, so a node drain never takes the set below the
majority it needs to keep a primary; with three members one may be drained at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from workloads.backup.scripts import ENSURE_BACKUP_USER_JS

REPLICA_SET = "rs0"
PORT = 27017
MONGODB_UID = 10999
"""The user and group every pod of the mongo image runs as (database members, backups): a UID at or above 10000, so
that it matches no account on the node (checkov CKV_K8S_40).

The image's own `mongodb` user is 999, but nothing depends on it: the image declares no USER; the data directory
is the claim's volume, which the kubelet makes group-owned and group-writable by `fsGroup` (a fresh ext4 volume's
root is root:root 0755, so uid 999 relied on `fsGroup` too); the keyfile is copied by an init container running
as this user; mongod and mongosh write only there and to the `/tmp` emptyDir (`HOME`). An unknown uid only makes
`whoami` fail, as in MongoDB's own Kubernetes operator, which runs mongod as uid 2000. On a cluster whose members
ran as 999, the new `fsGroup` differs from the volume root's group, so the kubelet regroups every existing file and
adds group read-write (`fsGroupChangePolicy: OnRootMismatch` walks the volume once) before mongod starts as this
user; the StatefulSet rolls one member at a time."""
APP_DATABASE = "ratingsdb"
BACKUP_USER = "backup"
"""The database user of the backup CronJob (built-in role `backup` only)."""
BACKUP_USER_SECRET = "ratings-backup-user"  # noqa: S105 (a Secret's name)
"""Keys `BACKUP_USER_FILES`: created by DatabaseBackup, mounted at `BACKUP_USER_DIR` in the `member` container."""
BACKUP_USER_FILES = ("username", "password")
"""The backup user's Secret keys, one file each."""
BACKUP_USER_DIR = "/etc/mongodb/backup-user"
"""Where the `member` container mounts `BACKUP_USER_SECRET` (only where backups are on)."""
CREDENTIALS_DIR = "/etc/mongodb/credentials"
"""Where the `member` container mounts the root and application credentials (`CREDENTIAL_FILES`)."""
CREDENTIAL_FILES = ("root-username", "root-password", "app-username", "app-password")
"""The credentials Secret's keys, one file each, read by `JOIN_SCRIPT`."""
JOINED_MARKER = "/tmp/joined"  # noqa: S108 (inside the container: the member's emptyDir)
"""Created by `MEMBER_SCRIPT` once the member has joined: the readiness and liveness probes read it."""


def members_for(workers: int) -> int:
    """Replica-set members for a cluster with this many workers: 3, or 1 on fewer than three workers.

    Members must sit on distinct nodes (a node failure must not take two votes), and the set needs an odd number
    of votes. Two workers cannot hold three members apart, and a two-member set survives nothing that one member
    does not, so a two-worker cluster gets one member (still a replica set: a third worker later lets it grow).
    """
    if workers < 1:
        raise ValueError("at least one worker is needed")
    return 3 if workers >= 3 else 1


def majority(members: int) -> int:
    """Votes needed to elect a primary."""
    if members < 1:
        raise ValueError("a replica set has at least one member")
    return members // 2 + 1


def pdb_min_available(members: int) -> int:
    """The PodDisruptionBudget's `minAvailable`: the majority, so that evictions never break the quorum."""
    return majority(members)


def member_host(ordinal: int, statefulset: str, service: str, namespace: str) -> str:
    """A member's stable address (the headless Service gives every StatefulSet pod a DNS name)."""
    return f"{statefulset}-{ordinal}.{service}.{namespace}.svc.cluster.local:{PORT}"


def member_hosts(members: int, statefulset: str, service: str, namespace: str) -> list[str]:
    """Every member's address, in ordinal order."""
    return [member_host(i, statefulset, service, namespace) for i in range(members)]


def connection_uri(username: str, password: str, hosts: list[str], database: str = APP_DATABASE) -> str:
    """The application's `MONGODB_URI`: every member as a seed, the replica set, and where the user lives."""
    credentials = f"{quote(username, safe='')}:{quote(password, safe='')}"
    return f"mongodb://{credentials}@{','.join(hosts)}/{database}?replicaSet={REPLICA_SET}&authSource={database}"


def mongod_args(keyfile: str, cache_gib: float) -> list[str]:
    """The arguments of each member's mongod."""
    return [
        "--replSet",
        REPLICA_SET,
        "--bind_ip_all",
        "--port",
        str(PORT),
        "--dbpath",
        "/data/db",
        "--keyFile",
        keyfile,
        # The WiredTiger cache defaults to half of (RAM - 1 GiB) of the node, not of the container's limit.
        "--wiredTigerCacheSizeGB",
        f"{cache_gib:g}",
    ]


MEMBER_SCRIPT = f"""\
#!/bin/sh
# Joins this pod's mongod to the replica set, then idles: the pod is ready only once it is a member.
set -eu
rm -f {JOINED_MARKER}
until mongosh --quiet --norc --host 127.0.0.1 --port "$MONGODB_PORT" --eval 'db.adminCommand({{ ping: 1 }}).ok' \\
    >/dev/null 2>&1; do
  sleep 2
done
until mongosh --quiet --norc --nodb --file /scripts/join.js; do
  echo "joining the replica set failed; retrying" >&2
  sleep 5
done
touch {JOINED_MARKER}
exec sleep infinity
"""
"""Entry point of each pod's `member` container."""

JOIN_SCRIPT = (
    """\
// Idempotent: initiate (member 0, once), create the root user (localhost exception), join, ensure the app user.
const env = process.env;
const ordinal = Number(env.POD_NAME.split('-').pop());
const domain = `${env.MEMBER_SERVICE}.${env.POD_NAMESPACE}.svc.cluster.local`;
const self = `${env.POD_NAME}.${domain}:${env.MONGODB_PORT}`;
// Credentials are files of the mounted Secrets, read exactly as stored.
const fs = require('fs');
const secretFile = (dir, name) => fs.readFileSync(`${dir}/${name}`, 'utf8');
const credential = (name) => secretFile(env.CREDENTIALS_DIR, name);
const root = { user: credential('root-username'), pwd: credential('root-password') };
const appUser = { user: credential('app-username'), pwd: credential('app-password') };

function waitFor(what, check) {
  for (let attempt = 0; attempt < 150; attempt++) {
    try {
      if (check()) return;
    } catch (e) {
      print(`waiting for ${what}: ${e.message}`);
    }
    sleep(2000);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const local = connect(`mongodb://127.0.0.1:${env.MONGODB_PORT}/admin?directConnection=true`);
if (ordinal === 0 && !local.hello().setName) {
  local.adminCommand({ replSetInitiate: { _id: env.REPLICA_SET, members: [{ _id: 0, host: self }] } });
  waitFor('this member to become primary', () => local.hello().isWritablePrimary);
}
if (ordinal === 0) {
  try {
    local.createUser({ user: root.user, pwd: root.pwd, roles: ['root'] });
  } catch (e) {
    // 13: users exist, so the localhost exception is closed; 51003: the user exists.
    if (e.code !== 13 && e.code !== 51003) throw e;
  }
}

const hosts = Array.from(
  { length: Number(env.MEMBERS) },
  (_, i) => `${env.STATEFULSET}-${i}.${domain}:${env.MONGODB_PORT}`,
);
const credentials = `${encodeURIComponent(root.user)}:${encodeURIComponent(root.pwd)}`;
let set = null;
waitFor('the replica set primary', () => {
  set = connect(`mongodb://${credentials}@${hosts.join(',')}/admin?replicaSet=${env.REPLICA_SET}&authSource=admin`);
  return set.hello().isWritablePrimary !== undefined;
});

const config = set.adminCommand({ replSetGetConfig: 1 }).config;
if (!config.members.some((m) => m.host === self)) {
  config.members.push({ _id: Math.max(...config.members.map((m) => m._id)) + 1, host: self });
  config.version += 1;
  set.adminCommand({ replSetReconfig: config });
}

const app = set.getSiblingDB(env.APP_DATABASE);
if (app.getUser(appUser.user)) {
  app.updateUser(appUser.user, { pwd: appUser.pwd });
} else {
  const roles = [{ role: 'readWrite', db: env.APP_DATABASE }];
  app.createUser({ user: appUser.user, pwd: appUser.pwd, roles });
}
// Only where backups are on: the member container then mounts the backup user's Secret at BACKUP_USER_DIR.
if (env.BACKUP_USER_DIR) {
  const backupFile = (name) => secretFile(env.BACKUP_USER_DIR, name);
  const backupUser = { user: backupFile('username'), pwd: backupFile('password') };
"""
    + ENSURE_BACKUP_USER_JS
    + """}
"""
)
"""The mongosh script `MEMBER_SCRIPT` runs; credentials come from the files of the mounted Secrets.

The backup user is created or updated only when the member container mounts its Secret (backups on).
"""


def member_liveness_command() -> list[str]:
    """The `member` container's liveness probe (see the module docstring).

    It passes until the member has joined (the join loop retries on its own), then asks the local mongod, without
    credentials (`hello` needs none), whether it still holds a replica-set configuration.
    """
    check = "if (!db.hello().setName) quit(1)"
    uri = f"mongodb://127.0.0.1:{PORT}/?directConnection=true"
    return ["sh", "-c", f"test ! -f {JOINED_MARKER} || mongosh --quiet --norc '{uri}' --eval '{check}'"]


VOLUME_SIZE_SETTING = "volumeSize"


def volume_change_refusals(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why the members' volume size cannot go from `old` to `new` (the database's ChangeGuard settings).

    The size is in the StatefulSet's volume claim template, which Kubernetes does not let change: pulumi-kubernetes
    plans a replacement of the StatefulSet for it (provider/pkg/provider/diff.go, `spec.volumeClaimTemplates`
    forces a new object), which its protection refuses. Existing claims would keep their size either way.
    """
    before, after = old.get(VOLUME_SIZE_SETTING), new.get(VOLUME_SIZE_SETTING)
    if before is None or before == after:
        return []
    return [
        f"the database volume size cannot change from {before!r} to {after!r}: it is part of the StatefulSet's "
        "volume claim template, which Kubernetes does not let change. Keep it; to grow the volumes, expand each "
        "PersistentVolumeClaim (data-ratings-mongodb-<n>) with kubectl, one member at a time"
    ]
