"""The steps that run in the official mongo image (bash, mongodump, mongorestore, mongod, mongosh, openssl).

That image has no Python and no curl, so these steps only touch the database and the files in the pod's work
directory (an emptyDir); the Python steps (`workloads.backup.pod`) talk to the storage. Every step writes its
output files only when it succeeds, and removes what it leaves half-written:
- `dump.sh`: mongodump of the whole replica set with `--oplog`, then `openssl cms -encrypt` (AES-256-GCM,
  AuthEnvelopedData) for the recipients' certificates, then `dump.ok`. The plaintext archive stays in the pod for
  the upload step to count, which deletes it.
- `restore.sh`: decrypt, then `mongorestore --oplogReplay --drop` into the hub's replica set.
- `verify-restore.sh`: decrypt, restore into a scratch mongod on loopback, count every collection with
  `counts.js`; it records its outcome in `restore.json` and exits 0 so that the report step always runs.

`openssl cms -decrypt` writes its output even when the GCM tag does not verify (checked with OpenSSL 3.0: exit
status 4, output file written), so the scripts never stream it into mongorestore and delete it on failure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

RECIPIENTS_DIR = "/etc/backup/recipients"
SCRIPTS_DIR = "/opt/backup/scripts"
WORK_DIR = "/work"
SCRATCH_PORT = 27018
RSA_OAEP = ("-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256")


@dataclass(frozen=True)
class Recipient:
    """A certificate the archive is encrypted for, as a file in the recipients' ConfigMap."""

    file: str
    """Key in the ConfigMap, e.g. `recovery.pem`."""
    rsa: bool
    """RSA keys are used with OAEP (SHA-256); EC keys with ECDH key agreement."""


def encrypt_command(recipients: Sequence[Recipient]) -> str:
    """`openssl cms -encrypt` of `$work/archive.gz` for the recipients (certificates in `$recipients`).

    AES-256-GCM in CMS AuthEnvelopedData (authenticated: a changed byte fails the decryption), `-stream` so that
    memory stays constant whatever the archive's size, DER output.
    """
    if not recipients:
        raise ValueError("at least one recipient certificate is needed")
    argv = ["openssl", "cms", "-encrypt", "-binary", "-stream", "-aes-256-gcm", "-outform", "DER"]
    words = [*argv, "-in", '"$work/archive.gz"', "-out", '"$work/archive.gz.cms"']
    for recipient in recipients:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*\.pem", recipient.file):
            raise ValueError(f"recipient file {recipient.file!r}: lowercase letters, digits, dashes, .pem")
        words += ["-recip", f'"$recipients/{recipient.file}"', *(RSA_OAEP if recipient.rsa else ())]
    return " ".join(words)


def dump_script(recipients: Sequence[Recipient], read_preference: str) -> str:
    """The backup pod's first step (mongo image)."""
    if read_preference not in ("secondary", "primary", "secondaryPreferred", "primaryPreferred", "nearest"):
        raise ValueError(f"read preference {read_preference!r}")
    encrypt = encrypt_command(recipients)
    return f"""\
#!/bin/bash
# Backup step 1 (mongo image): dump the whole replica set, encrypt it, mark it done. Nothing leaves the pod here.
set -euo pipefail
umask 077
work="${{BACKUP_WORK:-{WORK_DIR}}}"
recipients="${{BACKUP_RECIPIENTS:-{RECIPIENTS_DIR}}}"
config="${{MONGODUMP_CONFIG:?the path of the mongodump --config file}}"
rm -f "$work/archive.gz" "$work/archive.gz.cms" "$work/dump.ok"
started=$(date -u +%Y%m%dT%H%M%SZ)
echo "dump: mongodump --oplog of the replica set (read preference {read_preference}), started $started" >&2
status=0
mongodump --oplog --readPreference={read_preference} --archive="$work/archive.gz" --gzip --config="$config" \\
  || status=$?
if [ "$status" -ne 0 ]; then
  rm -f "$work/archive.gz"
  echo "backup FAILED: mongodump exited with status $status (database down or unreachable, or the backup user" \\
    "was refused; its messages are above). Nothing was uploaded and no manifest written." >&2
  exit 1
fi
status=0
{encrypt} || status=$?
if [ "$status" -ne 0 ]; then
  rm -f "$work/archive.gz" "$work/archive.gz.cms"
  echo "backup FAILED: openssl cms -encrypt exited with status $status (recipient certificate unreadable?)." >&2
  exit 1
fi
{{
  echo "started=$started"
  echo "finished=$(date -u +%Y%m%dT%H%M%SZ)"
  echo "mongodump=$(mongodump --version 2>/dev/null | head -n 1 || true)"
  echo "openssl=$(openssl version 2>/dev/null || true)"
}} > "$work/dump.ok.tmp"
mv "$work/dump.ok.tmp" "$work/dump.ok"
echo "dump: $(stat -c %s "$work/archive.gz.cms") bytes encrypted" >&2
"""


_DECRYPT = """\
decrypt() {
  # The tag is checked at the end: the output exists even when it fails, so it is removed then.
  if ! openssl cms -decrypt -binary -inform DER -in "$work/archive.gz.cms" -inkey "$key" -out "$work/archive.gz"; then
    rm -f "$work/archive.gz"
    return 1
  fi
  rm -f "$work/archive.gz.cms"
}
"""


def restore_script() -> str:
    """The restore Job's second step (mongo image): into the hub's replica set, after the fetch step."""
    return f"""\
#!/bin/bash
# Restore (mongo image): decrypt the fetched archive, mongorestore --oplogReplay --drop into the replica set.
set -euo pipefail
umask 077
work="${{BACKUP_WORK:-{WORK_DIR}}}"
key="${{RESTORE_KEY:?the path of the private key, supplied for this restore only}}"
config="${{MONGORESTORE_CONFIG:?the path of the mongorestore --config file}}"
{_DECRYPT}
if [ ! -f "$work/archive.gz.cms" ]; then
  echo "restore FAILED: no fetched archive in $work (the fetch step did not succeed)" >&2
  exit 1
fi
if ! decrypt; then
  echo "restore FAILED: the archive did not decrypt (wrong private key, or altered: the GCM tag did not verify)." \\
    "Nothing was restored." >&2
  exit 1
fi
status=0
mongorestore --oplogReplay --drop --archive="$work/archive.gz" --gzip --config="$config" || status=$?
rm -f "$work/archive.gz"
if [ "$status" -ne 0 ]; then
  echo "restore FAILED: mongorestore exited with status $status; collections may be partly restored:" \\
    "run the restore again (--drop makes it start over)." >&2
  exit 1
fi
echo "restore: done" >&2
"""


def verify_restore_script(scratch_cache_gib: float = 0.25) -> str:
    """The verification's second step (mongo image): restore into a scratch mongod inside the pod and count."""
    return f"""\
#!/bin/bash
# Verification step 2 (mongo image): decrypt, restore into a scratch mongod on loopback, count the collections.
# Records its outcome in restore.json and exits 0 so that the report step always runs and says why.
set -uo pipefail
umask 077
work="${{BACKUP_WORK:-{WORK_DIR}}}"
key="${{RESTORE_KEY:?the path of the verification private key}}"
port="${{SCRATCH_PORT:-{SCRATCH_PORT}}}"
scripts="${{BACKUP_SCRIPTS:-{SCRIPTS_DIR}}}"
{_DECRYPT}
record() {{ printf '{{"ok": %s, "message": "%s"}}\\n' "$1" "$2" > "$work/restore.json"; }}
finish() {{
  mongod --shutdown --dbpath "$work/db" >/dev/null 2>&1 || true
  rm -rf "$work/archive.gz" "$work/archive.gz.cms" "$work/db"
}}
fail() {{ record false "$1"; echo "verify: $1" >&2; finish; exit 0; }}
rm -f "$work/restore.json" "$work/restored-counts.json"
grep -q '"ok": true' "$work/fetch.json" 2>/dev/null || fail "skipped: the fetch step did not succeed"
decrypt || fail "the archive did not decrypt (wrong verification key, or altered: the GCM tag did not verify)"
mkdir -p "$work/db"
mongod --dbpath "$work/db" --port "$port" --bind_ip 127.0.0.1 --nounixsocket --fork \\
  --logpath "$work/mongod.log" --wiredTigerCacheSizeGB {scratch_cache_gib:g} >/dev/null \\
  || fail "the scratch mongod did not start (see $work/mongod.log)"
ready=0
for _ in $(seq 1 60); do
  if mongosh --quiet --norc --port "$port" --eval 'db.adminCommand({{ ping: 1 }}).ok' >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 1
done
[ "$ready" -eq 1 ] || fail "the scratch mongod did not answer within 60 s"
status=0
mongorestore --oplogReplay --drop --archive="$work/archive.gz" --gzip --host=127.0.0.1 --port="$port" \\
  || status=$?
[ "$status" -eq 0 ] || fail "mongorestore into the scratch mongod exited with status $status"
mongosh --quiet --norc --port "$port" --file "$scripts/counts.js" > "$work/restored-counts.json" \\
  || fail "counting the restored collections failed"
record true "restored into a scratch mongod and counted"
finish
"""


COUNTS_JS = """\
// Prints {"<db>.<collection>": <documents>} for every collection outside admin, config and local, as JSON.
const counts = {};
for (const { name } of db.adminCommand({ listDatabases: 1, nameOnly: true }).databases) {
  if (['admin', 'config', 'local'].includes(name)) continue;
  const database = db.getSiblingDB(name);
  for (const info of database.getCollectionInfos({ type: 'collection' }, { nameOnly: true })) {
    if (info.name.startsWith('system.')) continue;
    counts[`${name}.${info.name}`] = database.getCollection(info.name).countDocuments({});
  }
}
print(JSON.stringify(counts));
"""
"""mongosh script of the verification: exact counts (countDocuments), not the collection statistics."""


ENSURE_BACKUP_USER_JS = """\
// The backup user: built-in role `backup` only (mongodump --oplog of the whole set), password from the Secret.
const admin = set.getSiblingDB('admin');
if (admin.getUser(backupUser.user)) {
  admin.updateUser(backupUser.user, { pwd: backupUser.pwd, roles: [{ role: 'backup', db: 'admin' }] });
} else {
  admin.createUser({ user: backupUser.user, pwd: backupUser.pwd, roles: [{ role: 'backup', db: 'admin' }] });
}
"""
"""To append to `workloads.mongo.JOIN_SCRIPT` (it defines `set` and `backupUser`, read from the backup user's Secret
files); idempotent like the rest of it."""


def mongo_scripts(recipients: Sequence[Recipient], read_preference: str) -> dict[str, str]:
    """The scripts ConfigMap of the mongo-image steps (mounted at `SCRIPTS_DIR`)."""
    return {
        "dump.sh": dump_script(recipients, read_preference),
        "restore.sh": restore_script(),
        "verify-restore.sh": verify_restore_script(),
        "counts.js": COUNTS_JS,
    }
