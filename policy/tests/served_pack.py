"""The pack served the way Pulumi's Python language host starts a policy pack, and a client for it.

The language host runs `python -u -m pulumi.policy <engine address> <pack folder>` from the pack's folder
(pulumi 3.272 `pulumi/policy/__main__.py` parses both arguments and `runpy`-runs the folder's `__main__.py`);
constructing the PolicyPack serves the Analyzer service on 127.0.0.1 and prints the port on stdout. That
`__main__` never dials the engine address (it configures no engine, so `pulumi.log` writes to stderr); a fake
Engine server stands at that address anyway and records any call, so a pack that did log would be seen.
The project root is kept off the child's import path: the pack must run from its own folder alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc  # type: ignore[import-untyped]
from google.protobuf import empty_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc

from policy.stackhub_policies import PolicyEvent, StackResource
from policy.stackhub_policies.pack import PACK_FOLDER
from policy.stackhub_policies.wire import analyze_request, analyze_stack_request, events

START_TIMEOUT_SECONDS = 60


@dataclass
class FakeEngine(engine_pb2_grpc.EngineServicer):
    """The engine's gRPC service, recording what a plugin logs."""

    logged: list[Any] = field(default_factory=list)

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        self.logged.append(request)
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise NotImplementedError

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise NotImplementedError


@dataclass
class ServedPack:
    """A running pack and the calls the engine makes to it."""

    analyzer: analyzer_pb2_grpc.AnalyzerStub
    engine: FakeEngine
    process: subprocess.Popen[bytes]

    def configure(self, request: analyzer_pb2.ConfigureAnalyzerRequest) -> None:
        """Configure: each policy's level and settings."""
        self.analyzer.Configure(request)

    def analyze(self, resources: Sequence[StackResource]) -> list[PolicyEvent]:
        """Analyze each resource, then AnalyzeStack once, as a preview or update does."""
        found: list[PolicyEvent] = []
        for resource in resources:
            found += events(self.analyzer.Analyze(analyze_request(resource)), resource.urn)
        found += events(self.analyzer.AnalyzeStack(analyze_stack_request(resources)))
        return found

    def stderr(self) -> str:
        """What the pack wrote to stderr (after it stopped)."""
        return self.process.stderr.read().decode() if self.process.stderr else ""


def _child_environment(stack: str) -> Mapping[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PULUMI_CONFIG")}
    # What the CLI sets for analyzers of a preview (read by pulumi_policy's _configure_runtime_settings).
    environment.update(PULUMI_PROJECT="stackhub-ha", PULUMI_STACK=stack, PULUMI_DRY_RUN="true")
    return environment


@contextmanager
def served_pack(stack: str = "hub-seattle") -> Iterator[ServedPack]:
    """Start the pack from its folder with a fake engine; stop both afterwards."""
    engine = FakeEngine()
    engine_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(engine, engine_server)
    engine_port = engine_server.add_insecure_port("127.0.0.1:0")
    engine_server.start()
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", f"127.0.0.1:{engine_port}", str(PACK_FOLDER)],
        cwd=PACK_FOLDER,
        env=dict(_child_environment(stack)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    watchdog = threading.Timer(START_TIMEOUT_SECONDS, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        watchdog.cancel()
        if not line.isdigit():
            process.kill()
            raise RuntimeError(f"the pack printed no port: {line!r}\n{process.communicate()[1].decode()}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_SECONDS)
        yield ServedPack(analyzer_pb2_grpc.AnalyzerStub(channel), engine, process)
        channel.close()
    finally:
        watchdog.cancel()
        process.terminate()
        process.wait(timeout=10)
        engine_server.stop(0)
