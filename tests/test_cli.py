"""CLI conventions every command follows: defaults shown in --help, environment defaults
(flag > variable > built-in), one exit-code convention, --quiet, and `knn-al projects`
against a real server."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knn_al import __version__
from knn_al.cli import _leaves, build_parser, main
from knn_al.simulation.server_process import ServerProcess

ENV = ("KNN_AL_SERVER", "KNN_AL_TOKEN", "KNN_AL_TOKEN_FILE", "KNN_AL_DATA_DIR")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def _commands() -> dict[str, argparse.ArgumentParser]:
    leaves = _leaves(build_parser())
    return {leaf.prog.removeprefix("knn-al "): leaf for leaf in leaves}


def test_help_shows_every_default() -> None:
    commands = _commands()
    assert {"serve", "embed", "load", "export", "simulate", "demo", "check", "label-studio",
            "projects list", "projects create", "projects delete"} <= set(commands)
    for name, parser in commands.items():
        text = "".join(parser.format_help().split())  # argparse wraps lines, at hyphens too
        for action in parser._actions:
            default = action.default
            unset = default is None or default is False or default == argparse.SUPPRESS or default in ("", [], ())
            if action.option_strings and not unset:
                help_text = " ".join((parser._get_formatter()._get_help_string(action) % vars(action)).split())
                assert "default" in help_text, f"knn-al {name} {action.option_strings[0]}: no default in its help"
                assert "".join(help_text.split()) in text
        assert any("--quiet" in action.option_strings for action in parser._actions), name


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"knn-al {__version__}"


def test_the_environment_gives_defaults_and_a_flag_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):  # no --server and no $KNN_AL_SERVER: a usage error
        build_parser().parse_args(["projects", "list"])
    monkeypatch.setenv("KNN_AL_SERVER", "env-host:1")
    monkeypatch.setenv("KNN_AL_DATA_DIR", str(tmp_path))
    parser = build_parser()
    assert parser.parse_args(["projects", "list"]).server == "env-host:1"
    assert parser.parse_args(["projects", "list", "--server", "flag-host:2"]).server == "flag-host:2"
    assert parser.parse_args(["serve"]).data_dir == tmp_path
    assert parser.parse_args(["check"]).data_dir == tmp_path
    assert parser.parse_args(["check", "elsewhere"]).data_dir == Path("elsewhere")
    assert "$KNN_AL_SERVER, 'env-host:1'" in " ".join(_commands()["projects list"].format_help().split())


def test_token_precedence_and_a_missing_token_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from knn_al.cli.connection import token_of

    env_file, flag_file = tmp_path / "env-token", tmp_path / "flag-token"
    env_file.write_text("from-env-file\n")
    flag_file.write_text("from-flag-file\n")
    parse = build_parser().parse_args
    base = ["projects", "list", "--server", "h:1"]
    assert token_of(parse(base)) is None
    monkeypatch.setenv("KNN_AL_TOKEN_FILE", str(env_file))
    assert token_of(parse(base)) == "from-env-file"
    monkeypatch.setenv("KNN_AL_TOKEN", "from-env")
    assert token_of(parse(base)) == "from-env"
    assert token_of(parse([*base, "--token-file", str(flag_file)])) == "from-flag-file"
    assert token_of(parse([*base, "--token", "from-flag"])) == "from-flag"
    assert "from-env" not in _commands()["projects list"].format_help()  # a token's value is never shown
    monkeypatch.delenv("KNN_AL_TOKEN")
    monkeypatch.setenv("KNN_AL_TOKEN_FILE", str(tmp_path / "missing"))
    assert main(base) == 2
    err = capsys.readouterr().err
    assert err == f"knn-al projects: $KNN_AL_TOKEN_FILE {tmp_path / 'missing'}: no such file\n"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("cli") / "data"
    with ServerProcess(data, "--token", "s3cret") as server:
        yield server


def test_projects_command_against_a_server(token_server: ServerProcess, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KNN_AL_SERVER", token_server.address)
    monkeypatch.setenv("KNN_AL_TOKEN", "s3cret")
    assert main(["projects", "create", "cats", "--dimension", "4", "--labels", "cat", "dog", "--model", "graph",
                 "--exponents", "1", "0.5", "2", "--vector-dtype", "float16"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert (created["name"], created["dimension"], created["labels"], created["model"], created["exponents"],
            created["vector_dtype"]) == ("cats", 4, ["cat", "dog"], "graph", [1.0, 0.5, 2.0], "float16")
    with token_server.client(token="s3cret") as client:
        client.add_items("cats", ["a", "b", "c"], np.eye(3, 4, dtype=np.float32))
        client.submit_label("cats", "a", "cat")
    assert main(["projects", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "DIM", "POOL", "LABELED", "LEASED", "MODEL", "ENCODER", "STATE"]
    assert lines[1].split() == ["cats", "4", "3", "1", "0", "graph", "ready"]
    assert main(["projects", "list", "--json"]) == 0
    assert [p["name"] for p in json.loads(capsys.readouterr().out)] == ["cats"]
    assert main(["projects", "stats", "cats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["labeled"], stats["pool_size"], stats["progress"]["active_model"]) == (1, 3, "graph")
    assert main(["projects", "show", "nope"]) == 1
    assert capsys.readouterr().err.startswith("knn-al projects: NOT_FOUND: no project 'nope'")
    # A flag wins over the environment: a wrong token is refused.
    assert main(["projects", "list", "--token", "wrong"]) == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().err
    # Deleting needs --yes when stdin is not a terminal, and then changes nothing.
    done = subprocess.run([sys.executable, "-m", "knn_al.cli", "projects", "delete", "cats"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "destroys its 3 items and 1 labels: add --yes" in done.stderr
    assert main(["projects", "show", "cats"]) == 0
    capsys.readouterr()
    assert main(["projects", "delete", "cats", "--yes", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["projects", "list"]) == 0
    assert capsys.readouterr() == ("", "no projects\n")


def test_progress_bars_are_off_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"id": f"t{i}", "text": f"text number {i}"}) + "\n" for i in range(5)))
    done = subprocess.run([sys.executable, "-m", "knn_al.cli", "embed", str(texts), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "it/s" not in done.stderr and "item/s" not in done.stderr
    assert done.stdout.startswith("embedded 5 items with use-multilingual")


def test_a_token_exported_for_the_shell_does_not_lock_the_demos_server(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("KNN_AL_TOKEN", "for-my-shell")
    with ServerProcess(tmp_path / "data") as server, server.client() as client:
        assert client.list_projects() == []
