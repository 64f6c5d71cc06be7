"""What keeps other web sites out of the API: a page open in the annotator's browser must
not be able to use the server through that browser (cross-site request forgery), nor by
pointing a host name of its own at the server's address (DNS rebinding).

- A POST needs ``Content-Type: application/json``: a browser sends that type cross-site
  only after a CORS preflight, which this server never grants; the types a form or a plain
  ``fetch`` may send without one (text/plain, forms) are refused.
- A request whose ``Origin`` is not the server's own (scheme://Host), or that the browser
  marks ``Sec-Fetch-Site: cross-site``, is refused.
- Without a token, the ``Host`` must be an IP address, ``localhost`` or the ``--host``
  served: a rebound name (attacker.example resolving to 127.0.0.1) is refused. With a
  token the page of another site cannot authenticate, so host names are free.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Guard", "Refusal"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: its HTTP ``status``, gRPC status name ``code`` and ``message``."""

    status: int
    code: str
    message: str


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host name, port) of ``url``, the default port filled in; None if it has no host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname, port if port is not None else _DEFAULT_PORTS.get(parts.scheme, 0)


def _hostname(host: str) -> str:
    """The name of a ``Host`` header (lowercase, without port or IPv6 brackets); "" if malformed."""
    try:
        return urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return ""


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """Checks every API request against the rules above; ``host`` is the ``--host`` served,
    ``token`` whether the server has one."""

    def __init__(self, *, host: str, token: bool) -> None:
        self.host = host.strip("[]").lower()
        self.token = token

    def refusal(self, *, method: str, scheme: str, headers: Mapping[str, str], content_type: str) -> Refusal | None:
        """Why the request (its ``method``, the ``scheme`` it came by, its ``headers`` and
        parsed ``content_type``) is refused, or None."""
        host = headers.get("Host")
        if host is not None and not self.token:
            name = _hostname(host)
            if not (name and (_is_ip(name) or name in ("localhost", self.host))):
                return Refusal(403, "PERMISSION_DENIED",
                               f"this server has no token and answers only to its IP address, localhost or --host, "
                               f"not to {host!r}: serve with --token to be reached by a host name")
        origin, site = headers.get("Origin"), headers.get("Sec-Fetch-Site", "").lower()
        own = _origin(f"{scheme}://{host}") if host is not None else None
        if (origin is not None and (own is None or _origin(origin) != own)) or site == "cross-site":
            sender = f"Origin {origin}" if origin is not None else "Sec-Fetch-Site: cross-site"
            return Refusal(403, "PERMISSION_DENIED", f"cross-site requests are refused ({sender}): the API answers "
                                                     "its own page and clients that are not browsers")
        if method == "POST" and content_type != "application/json":
            return Refusal(415, "INVALID_ARGUMENT", f"send the header 'Content-Type: application/json' with the JSON "
                                                    f"body (got {headers.get('Content-Type', 'none')!r})")
        return None
