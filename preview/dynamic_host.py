"""A client for Pulumi's Python dynamic-provider host, started and spoken to the way the Pulumi engine does.

The engine runs a `pulumi.dynamic.Resource`'s provider in a separate process, `python -u -m pulumi.dynamic`,
started in the program's folder; the host prints its port and serves the ResourceProvider gRPC service
(pulumi `sdk/python/lib/pulumi/dynamic/__main__.py`). Every call carries the pickled provider under
`__provider`, which the host loads with dill; a provider class pickled by reference (ours: `arm.resource`) must
be importable from the host's working directory.

This client lets the offline preview ask the real provider for its decisions (Check, Diff) and lets tests drive
the whole life cycle through the real host. It marshals values as the engine does for this host: the host
answers Configure with `acceptSecrets: false`, so secrets travel unwrapped, and unknown values travel as the
`UNKNOWN` sentinel string. Results come back as plain dicts (numbers as floats, unknowns as the sentinel, the
`__provider` key kept so that a result can be passed back in as the next call's props).

    with DynamicProviderHost() as host:
        inputs, failures = host.check(news)
        decision = host.diff(resource_id, old_outputs, inputs)
"""

from __future__ import annotations

import collections
import os
import queue
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import grpc  # type: ignore[import-untyped]
from google.protobuf import json_format, struct_pb2  # type: ignore[import-untyped]
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
PROVIDER_KEY: Final = "__provider"
UNKNOWN: Final = rpc.UNKNOWN
RESOURCE_TYPE: Final = "pulumi-python:dynamic:Resource"
DEFAULT_URN: Final = f"urn:pulumi:preview::stackhub-ha::{RESOURCE_TYPE}::resource"

# The host writes its port and nothing else to stdout at start; whatever a provider prints later is drained
# into a bounded buffer so that a full pipe never blocks the host.
_OUTPUT_TAIL_BYTES = 64 * 1024
# The host's own limit (pulumi `runtime/_grpc_settings.py`): a pickled provider is large.
_MAX_MESSAGE_BYTES = 400 * 1024 * 1024
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
]
_STOP_GRACE_SECONDS = 5.0
_REDACTED = "[secret]"
_TRACEBACK = "Traceback (most recent call last):"


class DynamicHostError(Exception):
    """The host failed to start, or a call to it failed.

    `str()` is one readable line or a few: what was asked and the host's final exception (not its traceback).
    `details` holds the host's whole answer and `stderr` the end of its standard error. Every value that was
    sent as a secret is masked in all three.
    """

    def __init__(self, message: str, *, method: str, details: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.details = details
        self.stderr = stderr


@dataclass(frozen=True)
class HostDiff:
    """What the provider decided in Diff."""

    changes: bool | None
    """True: an update or replacement; False: nothing to do; None: the provider could not tell."""
    replaces: tuple[str, ...]
    """Top-level properties whose change needs a new resource."""
    delete_before_replace: bool
    """The old resource must go before its replacement is created."""
    diffs: tuple[str, ...]
    """Top-level properties that changed, when the host names them (the Python host does not)."""


class DynamicProviderHost:
    """One `python -u -m pulumi.dynamic` process and a gRPC channel to it; a context manager.

    `project_dir` is the host's working directory (the engine's: the program's folder). `env` adds to this
    process's environment (a hub's CA bundle in `REQUESTS_CA_BUNDLE`, for one). `config` is sent in Configure.
    `call_timeout` bounds each call in seconds (None: as long as the host works; a dead host fails at once).
    """

    def __init__(
        self,
        project_dir: str | os.PathLike[str] = PROJECT_ROOT,
        *,
        env: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
        start_timeout: float = 30.0,
        call_timeout: float | None = None,
        python: str = sys.executable,
    ) -> None:
        self.project_dir = Path(project_dir)
        self._env = dict(env or {})
        self._config = dict(config or {})
        self._start_timeout = start_timeout
        self._call_timeout = call_timeout
        self._python = python
        self._process: subprocess.Popen[bytes] | None = None
        self._handles: _Handles | None = None
        self._stub: provider_pb2_grpc.ResourceProviderStub | None = None
        self._stdout_tail = _Tail()
        self._stderr_tail = _Tail()
        self._readers: list[threading.Thread] = []
        self._finalizer: weakref.finalize[[_Handles], DynamicProviderHost] | None = None
        self._port_line: queue.Queue[bytes] = queue.Queue(maxsize=1)
        self._secrets: set[str] = set()
        self.accepts_secrets = False
        """What the host answered in Configure (the Python host: False, so secrets are sent unwrapped)."""
        self.port: int | None = None
        self.startup_seconds: float | None = None
        """From starting the process to the end of Configure."""

    # --- life cycle -------------------------------------------------------------------------------------

    def __enter__(self) -> DynamicProviderHost:
        self.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The host process's id once started (it stays set after close, for checks)."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the host, wait for its port and channel, and configure it. On any failure nothing is left running."""
        if self._process is not None:
            raise RuntimeError("the dynamic-provider host is already started")
        started = time.monotonic()
        deadline = started + self._start_timeout
        try:
            self._spawn()
            self.port = self._wait_for_port(deadline)
            self._connect(deadline)
            self._configure()
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - started

    def close(self) -> None:
        """Close the channel and end the host (SIGTERM, then SIGKILL after a grace period). Idempotent."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        for reader in self._readers:
            reader.join(timeout=_STOP_GRACE_SECONDS)
        self._readers = []
        self._stub = None

    def _spawn(self) -> None:
        if not self.project_dir.is_dir():
            raise DynamicHostError(
                f"cannot start the dynamic-provider host: {self.project_dir} is not a folder", method="start"
            )
        try:
            process = subprocess.Popen(
                [self._python, "-u", "-m", "pulumi.dynamic"],
                cwd=self.project_dir,
                env={**os.environ, **self._env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as error:
            raise DynamicHostError(f"cannot start the dynamic-provider host: {error}", method="start") from error
        self._process = process
        self._handles = _Handles(process)
        # Runs on close(), on garbage collection and at interpreter exit, whichever comes first; it holds the
        # process and channel, not this object, so that it does not keep this object alive.
        self._finalizer = weakref.finalize(self, _stop, self._handles)
        self._handles.watchdog = _watchdog(process.pid)
        if process.stdout is None or process.stderr is None:
            raise RuntimeError("Popen gave no pipes for stdout=PIPE, stderr=PIPE")
        self._readers = [
            _reader(process.stdout, self._stdout_tail, self._port_line, "stdout"),
            _reader(process.stderr, self._stderr_tail, None, "stderr"),
        ]

    def _wait_for_port(self, deadline: float) -> int:
        try:
            line = self._port_line.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise self._start_error(f"it printed no port within {self._start_timeout:g} s") from None
        text = line.decode(errors="replace").strip()
        if not text:
            raise self._start_error(f"it exited with code {self._exit_code()} before printing its port")
        try:
            return int(text)
        except ValueError:
            raise self._start_error(f"it printed {text[:200]!r} instead of its port") from None

    def _connect(self, deadline: float) -> None:
        if self._handles is None:
            raise RuntimeError("the host process is not started")
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=_CHANNEL_OPTIONS)
        self._handles.channel = channel
        try:
            grpc.channel_ready_future(channel).result(timeout=max(0.0, deadline - time.monotonic()))
        except grpc.FutureTimeoutError:
            raise self._start_error(f"its port {self.port} did not accept a connection") from None
        self._stub = provider_pb2_grpc.ResourceProviderStub(channel)

    def _configure(self) -> None:
        # The engine's capabilities (pkg/resource/provider/plugin: provider_plugin.go); the host ignores them.
        request = provider_pb2.ConfigureRequest(
            args=self._struct(self._config),
            acceptSecrets=True,
            acceptResources=True,
            sends_old_inputs=True,
            sends_old_inputs_to_delete=True,
        )
        response = self._call("Configure", request, urn="")
        self.accepts_secrets = bool(response.acceptSecrets)

    def _start_error(self, what: str) -> DynamicHostError:
        stderr = self._stderr_text()
        message = (
            f"the dynamic-provider host ({self._python} -u -m pulumi.dynamic in {self.project_dir}) failed: {what}"
        )
        if stderr:
            message += f"\n{_last_exception(stderr) or stderr[-2000:]}"
        return DynamicHostError(self._redact(message), method="start", stderr=stderr)

    def _exit_code(self, timeout: float = _STOP_GRACE_SECONDS) -> int | None:
        """The host's exit code, once it has exited within `timeout` seconds; None while it runs."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    # --- the ResourceProvider calls -----------------------------------------------------------------------

    def check(
        self, news: Mapping[str, Any], olds: Mapping[str, Any] | None = None, *, urn: str = DEFAULT_URN
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """(checked inputs, [(property, reason)]) for `news`; `olds` are the last run's inputs."""
        request = provider_pb2.CheckRequest(
            urn=urn,
            name=_name_of(urn),
            type=RESOURCE_TYPE,
            olds=self._struct(olds or {}),
            news=self._struct(news),
        )
        response = self._call("Check", request, urn=urn)
        failures = [(failure.property, failure.reason) for failure in response.failures]
        return _plain(response.inputs), failures

    def diff(
        self,
        id_: str,
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        *,
        old_inputs: Mapping[str, Any] | None = None,
        urn: str = DEFAULT_URN,
    ) -> HostDiff:
        """The provider's decision between the old outputs (`olds`, as the engine sends) and checked `news`."""
        request = provider_pb2.DiffRequest(
            id=id_,
            urn=urn,
            name=_name_of(urn),
            type=RESOURCE_TYPE,
            olds=self._struct(olds),
            news=self._struct(news),
            old_inputs=self._struct(old_inputs or {}),
        )
        response = self._call("Diff", request, urn=urn)
        changes = {
            provider_pb2.DiffResponse.DIFF_SOME: True,
            provider_pb2.DiffResponse.DIFF_NONE: False,
        }.get(response.changes)
        return HostDiff(
            changes=changes,
            replaces=tuple(response.replaces),
            delete_before_replace=bool(response.deleteBeforeReplace),
            diffs=tuple(response.diffs),
        )

    def create(self, props: Mapping[str, Any], *, urn: str = DEFAULT_URN) -> tuple[str, dict[str, Any]]:
        """(id, outputs) of a new resource."""
        request = provider_pb2.CreateRequest(
            urn=urn, name=_name_of(urn), type=RESOURCE_TYPE, properties=self._struct(props)
        )
        response = self._call("Create", request, urn=urn)
        return response.id, _plain(response.properties)

    def read(
        self,
        id_: str,
        props: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        urn: str = DEFAULT_URN,
    ) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """(id, outputs, inputs or None) as the hub has it now; the id is "" when the resource is gone.

        `props` are the last outputs, `inputs` the last inputs (as on a refresh). The returned inputs are None
        when the provider keeps the old ones.
        """
        request = provider_pb2.ReadRequest(
            id=id_,
            urn=urn,
            name=_name_of(urn),
            type=RESOURCE_TYPE,
            properties=self._struct(props),
            inputs=self._struct(inputs or {}),
        )
        response = self._call("Read", request, urn=urn)
        new_inputs = _plain(response.inputs) if response.HasField("inputs") else None
        return response.id, _plain(response.properties), new_inputs

    def update(
        self,
        id_: str,
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        *,
        old_inputs: Mapping[str, Any] | None = None,
        urn: str = DEFAULT_URN,
    ) -> dict[str, Any]:
        """The outputs after updating the resource from `olds` (old outputs) to `news` (checked inputs)."""
        request = provider_pb2.UpdateRequest(
            id=id_,
            urn=urn,
            name=_name_of(urn),
            type=RESOURCE_TYPE,
            olds=self._struct(olds),
            news=self._struct(news),
            old_inputs=self._struct(old_inputs or {}),
        )
        response = self._call("Update", request, urn=urn)
        return _plain(response.properties)

    def delete(
        self,
        id_: str,
        props: Mapping[str, Any],
        *,
        old_inputs: Mapping[str, Any] | None = None,
        urn: str = DEFAULT_URN,
    ) -> None:
        """Delete the resource; `props` are its last outputs."""
        request = provider_pb2.DeleteRequest(
            id=id_,
            urn=urn,
            name=_name_of(urn),
            type=RESOURCE_TYPE,
            properties=self._struct(props),
            old_inputs=self._struct(old_inputs or {}),
        )
        self._call("Delete", request, urn=urn)

    # --- plumbing -----------------------------------------------------------------------------------------

    def _struct(self, props: Mapping[str, Any]) -> Any:
        return to_struct(props, keep_secrets=self.accepts_secrets, secrets=self._secrets)

    def _call(self, method: str, request: Any, *, urn: str) -> Any:
        if self._stub is None:
            raise RuntimeError("the dynamic-provider host is not running: use it as a context manager or start() it")
        try:
            return getattr(self._stub, method)(request, timeout=self._call_timeout)
        except grpc.RpcError as error:
            raise self._call_error(method, urn, error) from None

    def _call_error(self, method: str, urn: str, error: Any) -> DynamicHostError:
        details = str(error.details() or "")
        code = error.code()
        subject = f"{method} of {_name_of(urn)}" if urn else method
        # The host answers a provider's exception with its traceback; anything else may be the host dying, which
        # the channel can notice a moment before the process is reaped.
        exit_code = None if _TRACEBACK in details else self._exit_code(timeout=1.0)
        stderr = self._stderr_text()
        if exit_code is not None:
            summary = f"the host exited with code {exit_code}"
            if stderr:
                summary += f"\n{_last_exception(stderr) or stderr[-2000:]}"
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            summary = f"no answer within {self._call_timeout:g} s"
        else:
            summary = _last_exception(details) or details.strip() or str(code)
        message = f"{subject} failed in the dynamic-provider host: {summary}"
        if "No module named" in summary:
            message += (
                f"\nThe host loads the provider's module from its working directory ({self.project_dir}); "
                "start it in the project root, as the Pulumi engine does."
            )
        return DynamicHostError(
            self._redact(message), method=method, details=self._redact(details), stderr=self._redact(stderr)
        )

    def _stderr_text(self) -> str:
        # Let the reader catch up with what a host that just died wrote last.
        if not self.running:
            for reader in self._readers:
                if reader.name.endswith("stderr"):
                    reader.join(timeout=1.0)
        return self._stderr_tail.text()

    def _redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _REDACTED)
        return text


# --- marshalling (the engine's side of pulumi `runtime/rpc.py`) -------------------------------------------------


def to_struct(props: Mapping[str, Any], *, keep_secrets: bool = False, secrets: set[str] | None = None) -> Any:
    """`props` as a protobuf Struct the way the engine sends them to a provider.

    A value in Pulumi's secret envelope is sent as its plain value unless `keep_secrets` (the provider accepts
    secrets); the plain strings found in envelopes are added to `secrets`. An unknown (`pulumi.output.Unknown`,
    or the sentinel string) is sent as the sentinel. Numbers become protobuf numbers (floats).
    """
    found = secrets if secrets is not None else set()
    struct = struct_pb2.Struct()
    for key, value in props.items():
        struct.fields[_key(key)].CopyFrom(_to_value(value, keep_secrets, found, secret=False))
    return struct


def _to_value(value: Any, keep_secrets: bool, secrets: set[str], *, secret: bool) -> Any:
    if rpc.is_rpc_secret(value):
        inner = _to_value(value["value"], keep_secrets, secrets, secret=True)
        if not keep_secrets:
            return inner
        envelope = struct_pb2.Struct()
        envelope.fields[rpc._special_sig_key].string_value = rpc._special_secret_sig
        envelope.fields["value"].CopyFrom(inner)
        return struct_pb2.Value(struct_value=envelope)
    if isinstance(value, Mapping):
        kind = _special_signature(value)
        if kind is not None:
            raise TypeError(f"the dynamic-provider host cannot take a {kind} value")
        struct = struct_pb2.Struct()
        for key, item in value.items():
            struct.fields[_key(key)].CopyFrom(_to_value(item, keep_secrets, secrets, secret=secret))
        return struct_pb2.Value(struct_value=struct)
    if isinstance(value, list | tuple):
        listed = struct_pb2.ListValue()
        for item in value:
            listed.values.add().CopyFrom(_to_value(item, keep_secrets, secrets, secret=secret))
        return struct_pb2.Value(list_value=listed)
    if secret and isinstance(value, str) and value and value != UNKNOWN:
        secrets.add(value)
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, Unknown):
        return struct_pb2.Value(string_value=UNKNOWN)
    if value is None:
        return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, int | float):
        return struct_pb2.Value(number_value=float(value))
    if isinstance(value, str):
        return struct_pb2.Value(string_value=value)
    raise TypeError(f"cannot send a {type(value).__name__} to the dynamic-provider host")


def _special_signature(value: Mapping[str, Any]) -> str | None:
    """The kind of a Pulumi envelope other than a secret (assets, archives, resource references, outputs)."""
    kinds = {
        rpc._special_asset_sig: "asset",
        rpc._special_archive_sig: "archive",
        rpc._special_resource_sig: "resource reference",
        rpc._special_output_value_sig: "output value",
    }
    signature = value.get(rpc._special_sig_key)
    return kinds.get(signature) if isinstance(signature, str) else None


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"property names must be strings, got {key!r}")
    return key


def _plain(struct: Any) -> dict[str, Any]:
    plain = json_format.MessageToDict(struct)
    if not isinstance(plain, dict):
        raise TypeError(f"the host answered a {type(plain).__name__} where properties belong")
    return plain


def _name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _last_exception(text: str) -> str:
    """The final exception of a Python traceback ("ModuleNotFoundError: No module named 'arm'"), or ""."""
    lines = text.rstrip().splitlines()
    # The exception's lines are the ones after the last indented line (a frame or its source).
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith(" "):
            tail = lines[index + 1 :]
            return "\n".join(tail).strip() if tail and _TRACEBACK in text else ""
    return ""


class _Tail:
    """The last `_OUTPUT_TAIL_BYTES` of a stream, written by its reader thread and read by the caller's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: collections.deque[bytes] = collections.deque()
        self._size = 0

    def append(self, line: bytes) -> None:
        with self._lock:
            self._lines.append(line)
            self._size += len(line)
            while self._size > _OUTPUT_TAIL_BYTES and len(self._lines) > 1:
                self._size -= len(self._lines.popleft())

    def text(self) -> str:
        with self._lock:
            return b"".join(self._lines).decode(errors="replace")


def _reader(stream: IO[bytes], tail: _Tail, first_line: queue.Queue[bytes] | None, name: str) -> threading.Thread:
    def run() -> None:
        with stream:
            if first_line is not None:
                # b"" at end of file: the host exited before printing its port.
                first_line.put(stream.readline())
            for line in iter(stream.readline, b""):
                tail.append(line)

    thread = threading.Thread(target=run, name=f"dynamic-host-{name}", daemon=True)
    thread.start()
    return thread


@dataclass
class _Handles:
    """What must be released when the host is done: the process, its watchdog and, once connected, the channel."""

    process: subprocess.Popen[bytes]
    watchdog: subprocess.Popen[bytes] | None = None
    channel: Any = None


def _watchdog(pid: int) -> subprocess.Popen[bytes] | None:
    """A tiny process that ends the host when this process ends without cleaning up.

    The host waits forever and never reads its stdin, so it cannot notice its parent going. Finalizers and
    atexit do not run when a process is killed or leaves through `os._exit` (pytest-xdist workers do), so the
    watchdog holds the read end of a pipe only this process writes to: when this process is gone, however it
    went, the kernel closes the pipe, `read` returns and the host gets SIGTERM.
    """
    if os.name != "posix":
        return None
    return subprocess.Popen(
        ["/bin/sh", "-c", 'read -r _ ; kill -TERM "$1" 2>/dev/null', "dynamic-host-watchdog", str(pid)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(handles: _Handles) -> None:
    # The watchdog goes first: once the host is reaped its pid may be reused, and the watchdog must not signal it.
    watchdog = handles.watchdog
    if watchdog is not None:
        watchdog.kill()
        watchdog.wait()
        if watchdog.stdin is not None:
            watchdog.stdin.close()
        handles.watchdog = None
    if handles.channel is not None:
        handles.channel.close()
        handles.channel = None
    process = handles.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
