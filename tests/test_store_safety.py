"""knn-al never destroys what it did not create, and one damaged project never takes the
others down (issue 11, cases 1, 2, 3, 5 and 17).

Real ``knn-al serve`` processes on loopback, real project files copied and damaged on
disk, real SIGKILLs; ``knn-al check`` run as the user runs it.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from knn_al.client import Client, ServiceError
from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors

Code = grpc.StatusCode
DIM = 16
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


# ------------------------------------------------------------------ helpers
def tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: relative path -> ("dir", mode), ("file", mode, bytes)
    or ("link", target). Symbolic links are recorded, never followed."""
    entries: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                entries[rel] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes())
    return entries


def under(entries: dict[str, tuple], *tops: str) -> dict[str, tuple]:
    """The entries of :func:`tree` whose relative path starts with one of ``tops``."""
    return {rel: entry for rel, entry in entries.items()
            if any(rel == top or rel.startswith(top + "/") for top in tops)}


def changed(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """The entries of ``before`` that are gone or different in ``after`` (what was removed
    or modified); entries only in ``after`` do not count."""
    return sorted(rel for rel, entry in before.items() if after.get(rel) != entry)


def write(path: Path, content: bytes | str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)


#: Top-level entries of :func:`foreign_tree`: what a user keeps beside the projects.
FOREIGN = (".git", ".venv", ".hidden", ".knn-al-tmp-xyz", "notes.txt", "somedir", "emptydir", "link")


def foreign_tree(root: Path) -> None:
    """A user's files in a data directory: a git repository, a virtualenv, hidden and plain
    files, nested and empty directories, a symlink, and a directory whose name looks like
    one of knn-al's temporary directories but holds no knn-al marker."""
    write(root / ".git" / "HEAD", "ref: refs/heads/main\n")
    write(root / ".git" / "config", "[core]\n\trepositoryformatversion = 0\n")
    write(root / ".git" / "objects" / "ab" / "cdef0123456789", bytes(range(256)) * 4, 0o444)
    write(root / ".git" / "refs" / "heads" / "main", "0123456789abcdef0123456789abcdef01234567\n")
    write(root / ".git" / "hooks" / "pre-commit", "#!/bin/sh\nexit 0\n", 0o755)
    write(root / ".venv" / "bin" / "python", b"\x7fELF not really", 0o755)
    write(root / ".venv" / "pyvenv.cfg", "home = /usr/bin\n")
    write(root / ".hidden", "a hidden file\n", 0o600)
    write(root / ".knn-al-tmp-xyz" / "keep.txt", "mine, not knn-al's\n")
    write(root / "notes.txt", "what I labeled today\n")
    write(root / "somedir" / "file", "some file\n")
    write(root / "somedir" / "nested" / "deeper.bin", np.arange(100, dtype=np.float32).tobytes())
    (root / "emptydir").mkdir()
    (root / "link").symlink_to("somedir")


def make_project(client: Client, name: str, *, seed: int, n: int = 200, labeled: int = 30
                 ) -> tuple[list[str], dict[str, str]]:
    """A project of ``n`` items, ``labeled`` of them labeled; returns its ids and labels."""
    ids, vectors, cluster = clustered_vectors(n, DIM, clusters=4, seed=seed)
    client.create_project(name, DIM)
    client.add_items(name, ids, vectors, [{"row": i} for i in range(n)])
    labels = {ids[i]: f"c{cluster[i]}" for i in range(labeled)}
    client.submit_labels(name, labels, annotator="ana")
    return ids, labels


def assert_serves(client: Client, name: str, ids: list[str], labels: dict[str, str]) -> None:
    """The project answers as before: its labels, predictions and a pick."""
    info = client.get_project(name)
    assert (info.pool_size, info.labeled_count) == (len(ids), len(labels))
    assert client.export_labels(name) == labels
    labeled = sorted(labels)[:5]
    assert [p.label for p in client.predict(name, labeled)] == [labels[i] for i in labeled]
    picked = client.next_sample(name, 2)
    assert len(picked) == 2 and {s.id for s in picked} <= set(ids) - set(labels)
    assert client.release(name, [s.id for s in picked]) == 2


@dataclass
class Attempt:
    """What a ``knn-al serve`` that may or may not start did."""

    started: bool
    timed_out: bool
    returncode: int | None
    stdout: str
    stderr: str
    while_up: Any = None  # what ``on_start`` returned (or raised) if the server started

    def refusal(self) -> str:
        """The one-line refusal; fails the test if the start was not refused that way."""
        assert not self.started, (f"the server started (stdout {self.stdout!r}); while it was up: {self.while_up!r}")
        assert not self.timed_out, f"the server neither started nor exited: stderr {self.stderr!r}"
        assert self.returncode not in (0, None), f"exit code {self.returncode}, stderr {self.stderr!r}"
        assert "Traceback" not in self.stderr, self.stderr
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {self.stderr!r}"
        return lines[0]


def attempt_serve(data_dir: Path, *args: str, timeout: float = 30.0,
                  on_start: Callable[[str], Any] | None = None) -> Attempt:
    """Run ``knn-al serve --data-dir data_dir *args``; if it starts, call
    ``on_start(address)`` and kill it; otherwise wait (at most ``timeout``) for its exit."""
    process = subprocess.Popen([sys.executable, "-m", "knn_al.cli", "serve", "--data-dir", str(data_dir), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        process.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        first = process.stdout.readline()
        found = re.search(r"serving on ([\w.\[\]:]+):(\d+)", first)
        if found:
            try:
                while_up = on_start(f"127.0.0.1:{found.group(2)}") if on_start else None
            except Exception as exc:  # noqa: BLE001 - reported in the failure message
                while_up = exc
            process.kill()
            out, err = process.communicate()
            return Attempt(True, False, process.returncode, first + out, err, while_up)
        out, err = process.communicate()
        return Attempt(False, killed.is_set(), process.returncode, first + out, err)
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()


def check(data_dir: Path) -> subprocess.CompletedProcess:
    """``knn-al check DATA_DIR`` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "knn_al.cli", "check", str(data_dir)], capture_output=True,
                          text=True, timeout=60, env=ENV)


# ----------------------------------------------- a data dir of two projects
@dataclass(frozen=True)
class Template:
    """A data directory (server stopped) with projects "good" and "bad", alike."""

    path: Path
    ids: list[str]
    good_labels: dict[str, str]
    bad_ids: list[str]

    def copy(self, target: Path) -> Path:
        shutil.copytree(self.path, target, symlinks=True)
        return target


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    data = tmp_path_factory.mktemp("template") / "data"
    server = ServerProcess(data)
    try:
        with server.client() as client:
            ids, good_labels = make_project(client, "good", seed=1)
            bad_ids, _ = make_project(client, "bad", seed=2)
    finally:
        assert server.stop() == 0  # graceful: the logs are checkpointed, no -wal left
    return Template(data, ids, good_labels, bad_ids)


def _truncate_vectors(project: Path) -> str:
    file = project / "pool" / "batch-00000.npy"
    body = file.read_bytes()
    file.write_bytes(body[: len(body) // 2])
    return "batch-00000.npy"


def _garbage_sqlite_header(project: Path) -> str:
    file = project / "log.sqlite"
    body = bytearray(file.read_bytes())
    body[:100] = np.random.default_rng(0).bytes(100)
    file.write_bytes(bytes(body))
    return "log.sqlite"


def _invalid_settings(project: Path) -> str:
    (project / "settings.json").write_text('{"name": "bad", "dimension": ', encoding="utf-8")
    return "settings.json"


def _missing_metadata(project: Path) -> str:
    (project / "pool" / "batch-00000.jsonl").unlink()
    return "batch-00000.jsonl"


def _missing_log(project: Path) -> str:
    (project / "log.sqlite").unlink()
    return "log.sqlite"


#: Damage one project's files; each returns the name of the file it damaged.
CORRUPTIONS: dict[str, Callable[[Path], str]] = {
    "truncated-pool-npy": _truncate_vectors,
    "garbage-sqlite-header": _garbage_sqlite_header,
    "invalid-settings-json": _invalid_settings,
    "missing-metadata-jsonl": _missing_metadata,
}


# ------------------------------------------- 1. nothing foreign is ever deleted
def test_serve_leaves_foreign_files_in_the_data_dir_alone_through_start_crash_and_restart(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    data = tmp_path / "data"
    foreign_tree(data)
    before = under(tree(data), *FOREIGN)
    assert len(before) > 15

    server = serve(data)
    assert changed(before, tree(data)) == [], "server start removed or changed foreign files"
    with server.client() as client:
        assert client.list_projects() == []  # foreign directories are not projects
        ids, labels = make_project(client, "p", seed=3)
        assert [p.name for p in client.list_projects()] == ["p"]
    assert under(tree(data), *FOREIGN) == before, "project creation and labels touched foreign files"
    server.kill()  # SIGKILL: no shutdown code runs
    assert under(tree(data), *FOREIGN) == before

    server = serve(data)
    assert under(tree(data), *FOREIGN) == before, "restart after SIGKILL touched foreign files"
    with server.client() as client:
        assert [p.name for p in client.list_projects()] == ["p"]
        assert_serves(client, "p", ids, labels)
    server.stop()
    assert under(tree(data), *FOREIGN) == before


def test_foreign_files_inside_a_project_directory_survive_crash_and_restart(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    data = tmp_path / "data"
    server = serve(data)
    with server.client() as client:
        ids, labels = make_project(client, "p", seed=4)
    project = data / "p"
    write(project / "README", "the photos of May\n")
    write(project / "pool" / "notes.txt", "batch 0 came from camera 2\n")
    write(project / "pool" / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    write(project / "attachments" / "a.txt", "attached\n")
    foreign = ("p/README", "p/pool/notes.txt", "p/pool/.DS_Store", "p/attachments")
    before = under(tree(data), *foreign)
    assert len(before) == 5

    server.kill()
    server = serve(data)
    assert under(tree(data), *foreign) == before, "a restart after SIGKILL removed files in the project"
    server = server.restart()
    assert under(tree(data), *foreign) == before, "a graceful restart removed files in the project"
    with server.client() as client:
        assert_serves(client, "p", ids, labels)


def test_a_temp_named_directory_without_the_marker_is_left_alone(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    data = tmp_path / "data"
    write(data / ".knn-al-tmp-xyz" / "keep.txt", "not knn-al's\n")
    write(data / ".knn-al-tmp-create-q-0123" / "pool" / "batch-00000.npy", b"\x93NUMPY")  # looks like ours too
    write(data / ".knn-al-tmp-create-q-0123" / "settings.json", "{}")
    before = under(tree(data), ".knn-al-tmp-xyz", ".knn-al-tmp-create-q-0123")
    server = serve(data)
    assert under(tree(data), ".knn-al-tmp-xyz", ".knn-al-tmp-create-q-0123") == before
    with server.client() as client:
        assert client.list_projects() == []
    server.stop()
    assert under(tree(data), ".knn-al-tmp-xyz", ".knn-al-tmp-create-q-0123") == before


# --------------------------------- 2. a project without its log is quarantined
def test_a_project_missing_its_log_is_quarantined_not_emptied(
        tmp_path: Path, template: Template, serve: Callable[..., ServerProcess]) -> None:
    data = template.copy(tmp_path / "data")
    _missing_log(data / "bad")
    files = tree(data / "bad")
    assert "pool/batch-00000.npy" in files and "log.sqlite" not in files

    server = serve(data)
    assert tree(data / "bad") == files, "the server start changed or removed the broken project's files"
    with server.client(retries=0, timeout=30) as client:
        listed = {p.name: p for p in client.list_projects()}
        assert sorted(listed) == ["bad", "good"]
        assert listed["good"].state == "ready" and listed["good"].pool_size == len(template.ids)
        assert listed["bad"].state == "broken" and "log.sqlite" in listed["bad"].problem

        calls: dict[str, Callable[[], object]] = {
            "GetProject": lambda: client.get_project("bad"),
            "NextSample": lambda: client.next_sample("bad", 1),
            "AddItems": lambda: client.add_items("bad", ["new"], np.ones((1, DIM), np.float32)),
            "SubmitLabel": lambda: client.submit_label("bad", template.bad_ids[0], "c0"),
            "Predict": lambda: client.predict("bad", template.bad_ids[:1]),
            "Export": lambda: client.export_labels("bad"),
            "DeleteProject": lambda: client.delete_project("bad"),
        }
        for call, run in calls.items():
            with pytest.raises(ServiceError) as caught:
                run()
            assert caught.value.code == Code.FAILED_PRECONDITION, (call, caught.value)
            assert "log.sqlite" in caught.value.message, (call, caught.value.message)
        assert_serves(client, "good", template.ids, template.good_labels)
    assert tree(data / "bad") == files, "calls on the broken project changed or removed its files"

    server = server.restart()
    with server.client() as client:
        assert client.get_project("good").state == "ready"
        (bad,) = [p for p in client.list_projects() if p.name == "bad"]
        assert bad.state == "broken" and "log.sqlite" in bad.problem
    server.stop()
    assert tree(data / "bad") == files


# ---------------------------------- 3. one corrupt project, the others serve
@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_one_corrupt_project_does_not_keep_the_server_down(
        tmp_path: Path, template: Template, kind: str, serve: Callable[..., ServerProcess]) -> None:
    data = template.copy(tmp_path / "data")
    damaged = CORRUPTIONS[kind](data / "bad")
    files = tree(data / "bad")

    server = serve(data)  # raises if the server does not start
    with server.client(retries=0, timeout=30) as client:
        assert_serves(client, "good", template.ids, template.good_labels)
        listed = {p.name: p for p in client.list_projects()}
        assert listed["good"].state == "ready"
        assert listed["bad"].state == "broken", listed["bad"]
        assert damaged in listed["bad"].problem, listed["bad"].problem
        with pytest.raises(ServiceError) as caught:
            client.next_sample("bad", 1)
        assert caught.value.code == Code.FAILED_PRECONDITION and damaged in caught.value.message
    server.stop()
    assert changed(files, tree(data / "bad")) == [], "the broken project's files were changed or removed"


# -------------------------------------------------------------- knn-al check
def test_check_passes_a_clean_data_dir_and_ignores_foreign_directories(tmp_path: Path, template: Template) -> None:
    data = template.copy(tmp_path / "data")
    foreign_tree(data)
    before = tree(data)
    done = check(data)
    assert done.returncode == 0, done
    assert done.stdout == "", f"problem lines on a clean data dir: {done.stdout!r}"
    assert "Traceback" not in done.stderr
    assert changed(before, tree(data)) == []


@pytest.mark.parametrize("kind", sorted({**CORRUPTIONS, "missing-log-sqlite": _missing_log}))
def test_check_reports_each_corruption_naming_project_and_file(tmp_path: Path, template: Template,
                                                               kind: str) -> None:
    data = template.copy(tmp_path / "data")
    damaged = {**CORRUPTIONS, "missing-log-sqlite": _missing_log}[kind](data / "bad")
    before = tree(data)
    done = check(data)
    assert done.returncode == 1, done
    lines = done.stdout.splitlines()
    assert lines, done
    assert all(line.startswith("bad: ") for line in lines), lines  # one line per problem, naming the project
    assert any(damaged in line for line in lines), lines
    assert "Traceback" not in done.stderr
    assert changed(before, tree(data)) == [], "check changed or removed files"


def test_check_changes_nothing_on_disk(tmp_path: Path, template: Template) -> None:
    data = template.copy(tmp_path / "data")
    _truncate_vectors(data / "bad")
    foreign_tree(data)
    before = tree(data)
    done = check(data)
    assert done.returncode == 1 and done.stdout.startswith("bad: "), done
    after = tree(data)
    assert sorted(set(after) - set(before)) == [], "check created files"
    assert changed(before, after) == [], "check changed or removed files"


def test_check_of_a_missing_data_dir_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    done = check(missing)
    assert done.returncode == 2, done
    assert str(missing) in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not missing.exists()


# -------------------------------------- 5. one data dir, one port, one server
def test_a_second_server_on_the_same_data_dir_exits_naming_the_first(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    data = tmp_path / "data"
    first = serve(data)
    with first.client() as client:
        ids, labels = make_project(client, "p", seed=5, n=100, labeled=10)
    before = tree(data)
    start = time.monotonic()
    second = attempt_serve(data, "--port", "0")
    line = second.refusal()
    assert time.monotonic() - start < 20
    assert re.search(rf"\b{first.process.pid}\b", line), f"the message does not name pid {first.process.pid}: {line}"
    assert str(data) in line, line
    assert tree(data) == before
    with first.client() as client:  # the first server is unharmed
        assert_serves(client, "p", ids, labels)


def test_a_second_server_on_the_same_port_exits_with_a_clear_message(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    first = serve(tmp_path / "one")
    other = tmp_path / "two"
    second = attempt_serve(other, "--port", str(first.port))
    line = second.refusal()
    assert str(first.port) in line and "in use" in line, line
    assert not other.exists(), "a failed start created its data dir"
    with first.client() as client:
        assert client.list_projects() == []


# ------------------------------------------------------- 17. start-up errors
def test_an_empty_token_is_refused_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"

    def unauthenticated_call(address: str) -> str:
        with Client(address, retries=0, timeout=10) as client:
            return f"ListProjects without a token answered {client.list_projects()!r}"

    line = attempt_serve(data, "--port", "0", "--token", "", on_start=unauthenticated_call).refusal()
    assert "token" in line.lower(), line
    assert not data.exists(), "a failed start created the data dir"


def test_a_missing_token_file_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    data, token_file = tmp_path / "data", tmp_path / "no-token.txt"
    line = attempt_serve(data, "--port", "0", "--token-file", str(token_file)).refusal()
    assert str(token_file) in line, line
    assert not data.exists(), "a failed start created the data dir"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and its key (openssl, else the cryptography package)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        return cert, key
    pytest.importorskip("cryptography", reason="neither openssl nor cryptography to make a certificate")
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    return cert, key


def test_swapped_tls_cert_and_key_are_one_line_and_create_nothing(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    data = tmp_path / "data"
    line = attempt_serve(data, "--port", "0", "--tls-cert", str(key), "--tls-key", str(cert)).refusal()
    assert "--tls-cert" in line and "--tls-key" in line, line
    assert not data.exists(), "a failed start created the data dir"
