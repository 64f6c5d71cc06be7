"""Assemble and run the gRPC server: the servicer, health checking, reflection, auth, TLS, limits."""
from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from knn_al.server.auth import TokenAuthInterceptor
from knn_al.server.servicer import ActiveLearningServicer
from knn_al.store import ProjectStore
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ActiveLearning"].full_name


@dataclass(frozen=True)
class ServerConfig:
    """How to serve; the CLI builds one from its flags."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 50051
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_message_mb: float = 64.0
    max_upload_items: int = 10_000_000
    workers: int = 8
    grace_seconds: float = 5.0


class RunningServer:
    """A started server; :meth:`stop` shuts it down gracefully and closes the store."""

    def __init__(self, server: grpc.aio.Server, port: int, health_servicer: health.aio.HealthServicer,
                 store: ProjectStore, executor: ThreadPoolExecutor) -> None:
        self.server, self.port = server, port
        self._health, self._store, self._executor = health_servicer, store, executor

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, let in-flight calls finish for ``grace`` seconds, then close."""
        await self._health.enter_graceful_shutdown()
        await self.server.stop(grace)
        self._executor.shutdown(wait=True)
        self._store.close()


async def start_server(config: ServerConfig) -> RunningServer:
    """Open the store (replaying every project) and start serving; returns once listening."""
    store = await asyncio.to_thread(ProjectStore, config.data_dir)
    limit = int(config.max_message_mb * 1024 * 1024)
    interceptors = [TokenAuthInterceptor(config.token)] if config.token else []
    server = grpc.aio.server(interceptors=interceptors, options=[
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
    ])
    executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="knn-al")
    pb_grpc.add_ActiveLearningServicer_to_server(
        ActiveLearningServicer(store, executor, max_upload_items=config.max_upload_items), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)

    address = f"{config.host}:{config.port}"
    if config.tls_cert or config.tls_key:
        if not (config.tls_cert and config.tls_key):
            raise ValueError("TLS needs both --tls-cert and --tls-key")
        credentials = grpc.ssl_server_credentials([(config.tls_key.read_bytes(), config.tls_cert.read_bytes())])
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, health_servicer, store, executor)


async def serve(config: ServerConfig) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    Prints ``knn-al serving on HOST:PORT`` once listening (the real port when 0 was asked).
    """
    running = await start_server(config)
    print(f"knn-al serving on {config.host}:{running.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down (grace %.1f s)", config.grace_seconds)
    await running.stop(config.grace_seconds)
