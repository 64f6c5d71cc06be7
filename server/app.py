"""Assemble and run the server: gRPC (the servicer, health checking, reflection) and, with an
HTTP port, the HTTP/JSON API and the page (:mod:`knn_al.server.http`) on the same event loop,
over the same projects, call queue, token and TLS certificate; limits."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from knn_al.errors import KnnAlError
from knn_al.learner.shards import ShardFactory
from knn_al.projects.store import ProjectStore
from knn_al.server.calls import Calls
from knn_al.server.auth import TokenAuthInterceptor
from knn_al.server.config import ServerConfig
from knn_al.server.http.api import Api
from knn_al.server.http.app import make_app, start_http
from knn_al.server.lock import LOCK_FILE, DataDirInUseError, DataDirLock
from knn_al.server.observe import Observer
from knn_al.server.servicer import ActiveLearningServicer
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ActiveLearning"].full_name


class StartupError(KnnAlError):
    """The server cannot start as configured; the message says why, in one line."""


class RunningServer:
    """A started server; :meth:`stop` shuts it down gracefully, closes the store and
    releases the data directory. ``http_port`` is None without HTTP."""

    def __init__(self, server: grpc.aio.Server, port: int, health_servicer: health.aio.HealthServicer,
                 store: ProjectStore, executor: ThreadPoolExecutor, lock: DataDirLock, observer: Observer,
                 http: tuple[web.AppRunner, int] | None = None) -> None:
        self.server, self.port = server, port
        self._health, self._store, self._executor, self._lock = health_servicer, store, executor, lock
        self._http_runner, self.http_port = http if http else (None, None)
        self.observer = observer
        #: The port of /metrics, or None without --metrics-port.
        self.metrics_port = observer.metrics_port

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, let in-flight calls finish for ``grace`` seconds, then close."""
        await self._health.enter_graceful_shutdown()
        if self._http_runner is not None:  # both transports drain together, within the same grace
            await asyncio.gather(self._http_runner.cleanup(), self.server.stop(grace))
        else:
            await self.server.stop(grace)
        self._executor.shutdown(wait=True)
        self.observer.close()
        self._store.close()
        self._lock.release()


def _tls_credentials(cert: Path | None, key: Path | None) -> tuple[grpc.ServerCredentials, ssl.SSLContext] | None:
    """gRPC's server credentials and HTTP's context, after checking that the files are a
    certificate and its key."""
    if not (cert or key):
        return None
    if not (cert and key):
        raise StartupError("TLS needs both --tls-cert and --tls-key")
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())]), context
    except FileNotFoundError as exc:
        raise StartupError(f"cannot read {exc.filename}: no such file") from None
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"--tls-cert {cert} and --tls-key {key} are not a PEM certificate chain and its "
                           f"private key ({getattr(exc, 'reason', None) or exc})") from None


def _check_port_free(host: str, port: int, *, flag: str = "--port") -> None:
    """Refuse a taken port before gRPC tries it (gRPC would log a line of its own first)."""
    if port == 0:
        return
    try:
        family, kind, proto, _, where = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            # As gRPC does: a port in TIME_WAIT after a restart is free (on Linux this
            # never admits a second listener, unlike SO_REUSEPORT).
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(where)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another {flag} or "
                           "--host)") from None


def _media_roots(config: ServerConfig) -> list[Path]:
    """The media roots, resolved, after checking each is a directory that holds none of the
    server's own files (the data directory, the token file, the TLS key and certificate):
    anyone with the token could otherwise name them in an item's metadata and read them."""
    own = {"the data directory": config.data_dir, "the --token-file": config.token_file,
           "the --tls-key": config.tls_key, "the --tls-cert": config.tls_cert}
    resolved = []
    for root in config.media_roots:
        where = root.resolve()
        if not where.is_dir():
            raise StartupError(f"--media-root {root}: no such directory")
        if where == Path(where.anchor):
            raise StartupError(f"--media-root {root} would serve every file of this machine: name the directory "
                               "holding the media")
        for what, path in own.items():
            if path is not None and path.resolve().is_relative_to(where):
                raise StartupError(f"--media-root {root} holds {what} {path}, which the API must not serve: name a "
                                   "directory of media only")
        resolved.append(where)
    return resolved


#: The reflection service of gRPC's current protocol: grpcio-reflection serves only v1alpha,
#: and tools that speak v1 (grpcurl, Postman, grpc-js clients) fail without it.
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _enable_reflection(services: tuple[str, ...], server: grpc.aio.Server) -> None:
    """Server reflection, v1alpha and v1, listing ``services`` and both reflection services.

    v1's messages are v1alpha's, field for field (only the package changed), so one
    servicer answers both: v1 is registered with v1alpha's message codecs."""
    names = (*services, reflection.SERVICE_NAME, REFLECTION_V1)
    servicer = reflection.aio.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    handlers = {"ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo, request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(REFLECTION_V1, handlers),))


def _join_ray(address: str) -> ShardFactory:
    """The shard factory of sharded projects, on the Ray cluster at ``address`` ("local": a new one here)."""
    from knn_al.sharding.ray_shards import connect

    try:
        return connect(None if address == "local" else address)
    except KnnAlError as exc:  # the ray extra is missing
        raise StartupError(str(exc)) from None
    except Exception as exc:  # Ray's own: no cluster there, a version mismatch ...
        raise StartupError(f"cannot join Ray at {address}: {type(exc).__name__}: {exc}") from None


async def start_server(config: ServerConfig) -> RunningServer:
    """Check the configuration, listen, lock the data directory, open the store (replaying
    every project) and start serving; returns once listening.

    Everything that can be checked is checked before anything is created: a failed start
    leaves no data directory, lock or project behind. :class:`StartupError` says why.
    """
    if config.token is not None and not config.token:
        raise StartupError("the token is empty: give a non-empty token, or none to serve without authentication")
    tls = _tls_credentials(config.tls_cert, config.tls_key)
    credentials, ssl_context = tls if tls else (None, None)
    media_roots = _media_roots(config)
    limit = int(config.max_message_mb * 1024 * 1024)
    interceptors = [TokenAuthInterceptor(config.token)] if config.token else []
    server = grpc.aio.server(interceptors=interceptors, options=[
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
        # gRPC sets SO_REUSEPORT by default: a second server on the same port would then
        # start and share the traffic, each with its own state of the projects.
        ("grpc.so_reuseport", 0),
    ])
    address = f"{config.host}:{config.port}"
    _check_port_free(config.host, config.port)
    for extra_port, flag in ((config.http_port, "--http-port"), (config.metrics_port, "--metrics-port")):
        if extra_port is not None:
            _check_port_free(config.host, extra_port, flag=flag)
    try:
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:
        raise StartupError(f"cannot listen on {address}: the port is in use or the address is not this "
                           "machine's (choose another --port or --host)") from None
    created = not config.data_dir.exists()
    lock: DataDirLock | None = None
    try:
        lock = DataDirLock(config.data_dir)
        shard_factory = None if config.ray is None else await asyncio.to_thread(_join_ray, config.ray)
        store = await asyncio.to_thread(ProjectStore, config.data_dir, max_lease_seconds=config.max_lease_seconds,
                                        shard_factory=shard_factory)
    except BaseException as exc:
        if lock is not None:
            lock.release()
        if created:  # ours, and empty but for the lock file: a failed start leaves nothing
            (config.data_dir / LOCK_FILE).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                config.data_dir.rmdir()
        if isinstance(exc, DataDirInUseError):
            raise StartupError(str(exc)) from None
        if isinstance(exc, OSError):
            raise StartupError(f"cannot use the data directory {config.data_dir}: {exc.strerror or exc}") from None
        raise
    executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="knn-al")
    roots = [config.data_dir, *config.dataset_roots]
    if Path.cwd() != Path(Path.cwd().anchor):
        roots.append(Path.cwd())
    else:  # a service manager's working directory is often "/": that would admit every path
        log.warning("the working directory is %s: it is not a dataset root (add --dataset-root DIR)", Path.cwd())
    calls = Calls(executor)  # one queue per project, whichever transport a call came by
    observer = Observer(store)
    pb_grpc.add_ActiveLearningServicer_to_server(
        ActiveLearningServicer(store, calls, max_upload_items=config.max_upload_items,
                               max_upload_bytes=int(config.max_upload_mb * 1024 * 1024), max_reply_bytes=limit,
                               dataset_roots=roots, observer=observer), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    _enable_reflection((SERVICE_NAME, health.SERVICE_NAME), server)
    await server.start()
    http = None
    if config.http_port is not None:
        api = Api(store, calls, media_roots=media_roots, max_upload_items=config.max_upload_items)
        try:
            app = make_app(api, token=config.token, host=config.host, max_body_bytes=limit, observer=observer)
            http = await start_http(app, host=config.host, port=config.http_port, ssl_context=ssl_context,
                                    shutdown_timeout=config.grace_seconds)
        except OSError as exc:  # taken since it was checked
            await RunningServer(server, port, health_servicer, store, executor, lock, observer).stop(0)
            raise StartupError(f"cannot listen on {config.host}:{config.http_port}: {exc.strerror or exc} "
                               "(choose another --http-port or --host)") from None
    if config.metrics_port is not None:
        try:
            observer.serve_metrics(host=config.host, port=config.metrics_port)
        except OSError as exc:  # taken since it was checked
            await RunningServer(server, port, health_servicer, store, executor, lock, observer, http).stop(0)
            raise StartupError(f"cannot listen on {config.host}:{config.metrics_port}: {exc.strerror or exc} "
                               "(choose another --metrics-port or --host)") from None
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, health_servicer, store, executor, lock, observer, http)


async def serve(config: ServerConfig) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    Prints ``knn-al serving on HOST:PORT`` once listening (the real port when 0 was asked),
    then ``knn-al HTTP on HOST:PORT`` with an HTTP port and ``knn-al metrics on HOST:PORT``
    with a metrics port.
    """
    running = await start_server(config)
    print(f"knn-al serving on {config.host}:{running.port}", flush=True)
    if running.http_port is not None:
        print(f"knn-al HTTP on {config.host}:{running.http_port}", flush=True)
    if running.metrics_port is not None:
        print(f"knn-al metrics on {config.host}:{running.metrics_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down (grace %.1f s)", config.grace_seconds)
    await running.stop(config.grace_seconds)
