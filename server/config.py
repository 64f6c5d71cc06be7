"""How a server runs: :class:`ServerConfig`, the one home of its defaults and their rules.

Light to import (no grpc), so ``knn-al serve --help`` shows these defaults without loading
the transport.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from knn_al.errors import InvalidInputError
from knn_al.projects.leases import DEFAULT_MAX_LEASE_SECONDS

__all__ = ["ServerConfig", "default_of"]

#: Settings that must be positive numbers, by field.
_POSITIVE = ("max_message_mb", "max_upload_items", "max_upload_mb", "max_lease_seconds", "workers")


@dataclass(frozen=True)
class ServerConfig:
    """How to serve; ``knn-al serve`` builds one from its flags. Checked at creation:
    :class:`InvalidInputError` names the setting."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 50051
    token: str | None = None
    #: The file the token was read from (--token-file): no media root may hold it.
    token_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_message_mb: float = 64.0
    max_upload_items: int = 10_000_000
    max_upload_mb: float = 4096.0
    max_lease_seconds: float = DEFAULT_MAX_LEASE_SECONDS
    #: Directories LoadDataset may read, besides the data directory and the working directory.
    dataset_roots: tuple[Path, ...] = ()
    workers: int = 8
    grace_seconds: float = 5.0
    #: The port of the HTTP/JSON API and the labeling page (0: a free one); None: no HTTP.
    http_port: int | None = None
    #: Directories whose files the HTTP API may serve as items' media (images named by metadata).
    media_roots: tuple[Path, ...] = ()
    #: The port of the Prometheus endpoint /metrics (0: a free one); None: no metrics.
    metrics_port: int | None = None
    #: Serve sharded projects on Ray: the address of a cluster to join, "local" to start
    #: one on this machine; None: no Ray (projects of one shard only).
    ray: str | None = None

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                raise InvalidInputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.grace_seconds < 0:
            raise InvalidInputError(f"grace_seconds must be 0 or more, got {self.grace_seconds}")
        for name in ("port", "http_port", "metrics_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 65_535:
                raise InvalidInputError(f"{name} must be between 0 and 65535, got {value}")
        ports = [(name, getattr(self, name)) for name in ("port", "http_port", "metrics_port")]
        taken = [(name, value) for name, value in ports if value]
        for i, (name, value) in enumerate(taken):
            for other, value2 in taken[i + 1:]:
                if value == value2:
                    raise InvalidInputError(f"{other} must differ from {name}: both are {value}")
        if self.media_roots and self.http_port is None:
            raise InvalidInputError("media_roots: only the HTTP API serves media, give http_port too")


def default_of(name: str) -> Any:
    """The default of :class:`ServerConfig` field ``name``."""
    return next(f.default for f in fields(ServerConfig) if f.name == name)
