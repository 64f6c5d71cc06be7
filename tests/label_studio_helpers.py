"""A real Label Studio 1.23 server for the tests of the Label Studio bridge (issue 14).

Label Studio is no dependency of knn-al: ``scripts/label_studio_env.sh`` installs it into a
virtualenv of its own, cached between runs (``$KNN_AL_LABEL_STUDIO_VENV``, default
``~/.cache/knn-al/label-studio-venv``; about 75 s on a fresh machine, 0.1 s once it exists).
The fixture ``label_studio`` (in ``tests/conftest.py``, session scope: one server for every
test that asks for it, whichever module) runs the script, starts ``label-studio start`` on a free loopback port with its data in a
temporary directory, waits for ``GET /health``, yields a :class:`LabelStudio` and stops the
server's whole process group at teardown. Starting takes ~35 s (mostly Django migrations
of the fresh SQLite database). If the venv cannot be made or the server does not come up,
the test fails with the script's or the server's output: never a skip.

Authentication in 1.23
----------------------
- ``--user-token T`` sets the *legacy* DRF token of the user the start creates:
  ``Authorization: Token T``. Legacy tokens are disabled by default in 1.23 (a request with
  one gets 401 "legacy token authentication has been disabled for this organization") unless
  the organization is created with them enabled: ``--enable-legacy-api-token`` on the first
  start (or ``LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true``), as this fixture does.
  The organization's switches: ``GET /api/jwt/settings`` ->
  ``{"api_tokens_enabled": true, "legacy_api_tokens_enabled": true}``.
- Personal access tokens are JWTs: ``POST /api/token/`` (authenticated) ->
  ``{"token": PAT}`` (a refresh token; one per user, a second POST is 409 until it is revoked
  through ``/api/token/blacklist/``). ``POST /api/token/refresh/ {"refresh": PAT}`` ->
  ``{"access": JWT}``, valid 5 minutes; requests carry ``Authorization: Bearer JWT``
  (``Bearer PAT`` itself is 401). ``label_studio_sdk.LabelStudio(api_key=...)`` does this
  refresh dance for a PAT and sends ``Token`` for a legacy key.
- The legacy token matters to the bridge: Label Studio's ``POST /setup`` to an ML backend
  carries ``access_token`` = the project creator's *legacy* token (and ``hostname``), which
  an ML backend uses to call back into the API.

Environment that keeps it offline, quiet and able to reach a local ML backend
(each variable also accepted with a ``LABEL_STUDIO_`` prefix):
``LATEST_VERSION_CHECK=false`` (else it asks PyPI for the latest version at start),
``COLLECT_ANALYTICS=false``, ``SENTRY_DSN=`` and ``FRONTEND_SENTRY_DSN=`` (else it reports
errors to HumanSignal's Sentry), ``ML_BLOCK_LOCAL_IP=false`` (else an ML backend on
127.0.0.1 is refused), ``SSRF_PROTECTION_ENABLED=false`` (else the webhook Label Studio
creates for a local ML backend fails validation silently and is never made), and
``HOST=http://127.0.0.1:P`` (the ``hostname`` sent in ``/setup``; else ``localhost:8080``).
Local-files storage is served from ``DATA_DIR/files`` (``LOCAL_FILES_SERVING_ENABLED=true``,
``LOCAL_FILES_DOCUMENT_ROOT``): a storage's path must lie under it.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV_SCRIPT = ROOT / "scripts" / "label_studio_env.sh"
#: A fresh SQLite database is migrated at the first start: ~35 s here on 2 busy cores.
START_SECONDS = 240
STOP_SECONDS = 15


@dataclass(frozen=True)
class LabelStudio:
    """A running Label Studio: ``url`` (no trailing slash) and the legacy API ``token``
    (``Authorization: Token TOKEN``) of the user ``username`` / ``password``; local-files
    storage may serve files under ``data_dir / "files"``."""

    url: str
    token: str
    username: str
    password: str
    data_dir: Path
    log: Path

    def api(self, method: str, path: str, body: Any = None, *, expect: int | None = None) -> Any:
        """``method path`` (e.g. ``"POST", "/api/projects"``) with a JSON body; the decoded JSON
        reply (None for an empty one). Fails the test, with the reply, on a status that is
        not 2xx (or not ``expect``)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Token {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                status, content = reply.status, reply.read()
        except urllib.error.HTTPError as error:
            status, content = error.code, error.read()
        if (expect is None and not 200 <= status < 300) or (expect is not None and status != expect):
            pytest.fail(f"Label Studio {method} {path} -> {status}: {content[:2000]!r}")
        return json.loads(content) if content else None

    def upload(self, project: int, files: dict[str, bytes]) -> Any:
        """Import ``files`` (name -> content) into ``project`` as the "Upload files" button
        does (multipart ``POST /api/projects/{id}/import``): a task per file."""
        boundary = "knn-al-test-boundary"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
                 for name, content in files.items()]
        request = urllib.request.Request(
            f"{self.url}/api/projects/{project}/import", data=b"".join(parts) + f"--{boundary}--\r\n".encode(),
            method="POST", headers={"Authorization": f"Token {self.token}",
                                    "Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(request, timeout=120) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as error:
            pytest.fail(f"Label Studio upload -> {error.code}: {error.read()[:2000]!r}")


def label_studio_venv() -> Path:
    """The venv ``scripts/label_studio_env.sh`` made or found (its last line of output)."""
    done = subprocess.run(["bash", str(ENV_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{ENV_SCRIPT.relative_to(ROOT)} could not make the Label Studio venv "
                    f"(exit {done.returncode}):\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _log_tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"label-studio start exited ({process.returncode}) before answering "
                        f"(venv from {ENV_SCRIPT.relative_to(ROOT)}); its log:\n{_log_tail(log)}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        time.sleep(0.5)
    pytest.fail(f"label-studio start did not answer /health within {START_SECONDS} s "
                f"(venv from {ENV_SCRIPT.relative_to(ROOT)}); its log:\n{_log_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group (the Django server and anything it forked), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def running_label_studio(data_dir: Path) -> Iterator[LabelStudio]:
    """A Label Studio started with its data in ``data_dir`` (made if missing), stopped on exit."""
    venv = label_studio_venv()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = LabelStudio(url=url, token="knn-al-test-token", username="test@knn-al.invalid",
                         password="knn-al-test-password", data_dir=data_dir, log=data_dir / "label-studio.log")
    (data_dir / "files").mkdir(exist_ok=True)
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "HOST": url,
           "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false",
           "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "LOG_LEVEL": "WARNING",
           "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false", "PYTHONUNBUFFERED": "1",
           "LOCAL_FILES_SERVING_ENABLED": "true", "LOCAL_FILES_DOCUMENT_ROOT": str(data_dir / "files")}
    command = [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1",
               "--port", str(port), "--username", server.username, "--password", server.password,
               "--user-token", server.token, "--enable-legacy-api-token"]
    with open(server.log, "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=data_dir, env=env, start_new_session=True)
    try:
        _wait_until_up(process, url, server.log)
        yield server
    finally:
        _stop(process)
