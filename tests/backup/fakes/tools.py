"""Fake `mongodump`, `mongorestore`, `mongod` and `mongosh`: check their arguments, make and read real archives.

Run as `python tools.py <tool> <args...>` by the wrappers `install()` writes. They talk to no server: the
"database" is the dataset JSON named by FAKE_MONGO_DATASET, and what a restore leaves is a JSON file of counts in
FAKE_MONGO_STATE. Every call is appended to FAKE_MONGO_STATE/calls.jsonl. Faults are asked for with variables:
FAKE_MONGO_DOWN (mongodump cannot connect), FAKE_MONGODUMP_DIES (half an archive, then exit 2),
FAKE_MONGORESTORE_FAIL, FAKE_MONGOD_FAIL, FAKE_RESTORE_LOSES (a namespace the fake restore drops).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository, when run as a script

from tests.backup.fakes.bsonenc import build_archive, read_archive

FAKES = Path(__file__).resolve().parent
TOOLS = ("mongodump", "mongorestore", "mongod", "mongosh")


def install(bin_dir: Path) -> None:
    """Write an executable wrapper per tool into `bin_dir` (put it first on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "tools.py"}" {tool} "$@"\n')
        wrapper.chmod(0o755)


def _state() -> Path:
    path = Path(os.environ["FAKE_MONGO_STATE"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fail(message: str, status: int = 1) -> None:
    print(f"2026-01-01T02:15:00.000+0000\tFailed: {message}", file=sys.stderr)
    raise SystemExit(status)


def _options(argv: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for arg in argv:
        if not arg.startswith("--"):
            _fail(f"positional argument {arg!r} not expected here")
        key, sep, value = arg[2:].partition("=")
        options[key] = value if sep else ""
    return options


def _check_config(path: str) -> None:
    text = Path(path).read_text()
    lines = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    uri = json.loads(lines.get("uri", '""').strip())
    if not uri.startswith("mongodb://") or "password" not in lines:
        _fail(f"--config {path}: expected uri and password")
    userinfo = uri[len("mongodb://") :].split("@", 1)[0]
    if ":" in userinfo:
        _fail("the password must be in the config file's password key, not in the URI")


def mongodump(argv: list[str]) -> None:
    if argv == ["--version"]:
        print("mongodump version: 100.13.0-fake\ngit version: fake\nGo version: go1.24")
        return
    options = _options(argv)
    expected = {"oplog", "readPreference", "archive", "gzip", "config"}
    if set(options) != expected:
        _fail(f"arguments {sorted(options)}; the backup must pass exactly {sorted(expected)}")
    if options["oplog"] or options["gzip"]:
        _fail("--oplog and --gzip take no value")
    wanted = os.environ.get("FAKE_READ_PREFERENCE", "secondary")
    if options["readPreference"] != wanted:
        _fail(f"--readPreference={options['readPreference']}, expected {wanted}")
    _check_config(options["config"])
    if os.environ.get("FAKE_MONGO_DOWN"):
        _fail("can't create session: failed to connect to mongodb://ratings-mongodb-0...: server selection error")
    dataset = json.loads(Path(os.environ["FAKE_MONGO_DATASET"]).read_text())
    archive = gzip.compress(build_archive(dataset), compresslevel=1)
    dies = bool(os.environ.get("FAKE_MONGODUMP_DIES"))
    data = archive[: len(archive) // 2] if dies else archive
    if options["archive"]:
        Path(options["archive"]).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    for namespace, spec in dataset["collections"].items():
        print(f"2026-01-01T02:15:00.000+0000\tdone dumping {namespace} ({spec.get('documents', 0)} documents)",
              file=sys.stderr)  # fmt: skip
    if dies:
        _fail("error writing data for collection: connection reset by peer", 2)
    print(f"2026-01-01T02:15:00.000+0000\tdumped {len(dataset.get('oplog', [1]))} oplog entries", file=sys.stderr)


def mongorestore(argv: list[str]) -> None:
    options = _options(argv)
    required = {"oplogReplay", "drop", "archive", "gzip"}
    if not required <= set(options):
        _fail(f"arguments {sorted(options)}; a restore must pass {sorted(required)}")
    extra = set(options) - required
    if extra not in ({"config"}, {"host", "port"}):
        _fail(f"unexpected arguments {sorted(extra)}: --config (the replica set) or --host/--port (scratch)")
    if "config" in options:
        _check_config(options["config"])
        target = "cluster"
    else:
        if options["host"] != "127.0.0.1" or not (_state() / f"mongod-{options['port']}.running").exists():
            _fail(f"no mongod listening on {options['host']}:{options['port']}")
        target = f"scratch-{options['port']}"
    if os.environ.get("FAKE_MONGORESTORE_FAIL"):
        _fail("restore error: E11000 duplicate key error")
    source = Path(options["archive"]).read_bytes() if options["archive"] else sys.stdin.buffer.read()
    try:
        counts, oplog = read_archive(gzip.decompress(source))
    except (OSError, ValueError, EOFError) as error:
        _fail(f"stream or file does not appear to be a mongodump archive: {error}")
    for entry in oplog:  # the replay: an insert adds a document, a delete removes one
        if entry.get("op") == "i":
            counts[entry["ns"]] = counts.get(entry["ns"], 0) + 1
        elif entry.get("op") == "d":
            counts[entry["ns"]] -= 1
    lost = os.environ.get("FAKE_RESTORE_LOSES")
    if lost:
        counts.pop(lost, None)
    (_state() / f"{target}.json").write_text(json.dumps(counts))
    print(f"{sum(counts.values())} document(s) restored successfully. 0 document(s) failed to restore.",
          file=sys.stderr)  # fmt: skip


def _spaced_options(argv: list[str], flags: set[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if not arg.startswith("--"):
            _fail(f"positional argument {arg!r} not expected here")
        options[arg[2:]] = "" if arg[2:] in flags else next(args, "")
    return options


def mongod(argv: list[str]) -> None:
    options = _spaced_options(argv, {"nounixsocket", "fork", "shutdown"})
    if "shutdown" in options:
        for marker in _state().glob("mongod-*.running"):
            marker.unlink()
        return
    required = {"dbpath", "port", "bind_ip", "nounixsocket", "fork", "logpath", "wiredTigerCacheSizeGB"}
    if set(options) != required or options["bind_ip"] != "127.0.0.1":
        _fail(f"scratch mongod arguments {sorted(options)}")
    if not Path(options["dbpath"]).is_dir():
        _fail(f"dbpath {options['dbpath']} does not exist")
    if os.environ.get("FAKE_MONGOD_FAIL"):
        _fail("child process failed, exited with 1")
    (_state() / f"mongod-{options['port']}.running").touch()


def mongosh(argv: list[str]) -> None:
    args = list(argv)
    port = args[args.index("--port") + 1]
    if not {"--quiet", "--norc"} <= set(args):
        _fail("mongosh without --quiet --norc")
    if not (_state() / f"mongod-{port}.running").exists():
        _fail(f"MongoNetworkError: connect ECONNREFUSED 127.0.0.1:{port}")
    if "--eval" in args:
        print(1)
        return
    script = Path(args[args.index("--file") + 1]).read_text()
    if "countDocuments" not in script:
        _fail("the counting script does not count documents")
    counts = json.loads((_state() / f"scratch-{port}.json").read_text())
    application = {
        ns: n
        for ns, n in counts.items()
        if ns.split(".", 1)[0] not in ("admin", "config", "local") and not ns.split(".", 1)[1].startswith("system.")
    }
    print(json.dumps(application))


def main() -> None:
    tool, argv = sys.argv[1], sys.argv[2:]
    with (_state() / "calls.jsonl").open("a") as log:
        log.write(json.dumps({"tool": tool, "argv": argv}) + "\n")
    handlers: dict[str, Any] = {"mongodump": mongodump, "mongorestore": mongorestore, "mongod": mongod,
                                "mongosh": mongosh}  # fmt: skip
    handlers[tool](argv)


if __name__ == "__main__":
    main()
