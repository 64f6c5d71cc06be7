"""Issue 6 through the real service: stream-based selection, label budget and target
accuracy, duplicate groups, outliers and export. A real `knn-al serve` on loopback."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import grpc
import numpy as np
import pytest

from knn_al.client import ServiceError
from knn_al.simulation.server_process import ServerProcess

Code = grpc.StatusCode
DIM = 32
CLASSES = ["red", "green", "blue"]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def centres() -> np.ndarray:
    """Three orthogonal class directions: a known set where confidence is easy to read."""
    return np.eye(DIM, dtype=np.float32)[:3]


def near(centres: np.ndarray, cls: int, n: int, *, spread: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return unit(centres[cls] + spread * rng.standard_normal((n, DIM)) / np.sqrt(DIM))


@pytest.fixture()
def server(tmp_path: Path, serve: Callable[..., ServerProcess]) -> ServerProcess:
    return serve(tmp_path / "data")


def labeled_project(client, name: str, centres: np.ndarray, **settings) -> None:
    """A pool of 3 × 40 items around the class directions, 10 of each class labeled."""
    client.create_project(name, DIM, **settings)
    x = np.concatenate([near(centres, c, 40, spread=1.0, seed=c) for c in range(3)])
    ids = [f"{CLASSES[c]}-{i}" for c in range(3) for i in range(40)]
    client.add_items(name, ids, x)
    client.submit_labels(name, {f"{CLASSES[c]}-{i}": CLASSES[c] for c in range(3) for i in range(10)})


# --------------------------------------------------------------------- streams
def test_stream_auto_labels_confident_items_and_queries_the_rest(server, centres) -> None:
    client = server.client()
    labeled_project(client, "s", centres)
    confident = [(f"c{c}", near(centres, c, 1, spread=0.3, seed=100 + c)[0]) for c in range(3)]
    # Halfway between two classes, and orthogonal to all three: no confident vote.
    between = [("mid", unit(centres[0] + centres[1])), ("far", unit(np.eye(DIM, dtype=np.float32)[10]))]
    decisions = {d.id: d for d in client.stream("s", confident + between, threshold=0.8, annotator="ann")}
    for c in range(3):
        d = decisions[f"c{c}"]
        assert (d.query, d.reason, d.label) == (False, "confident", CLASSES[c]) and d.confidence >= 0.8
    for item in ("mid", "far"):
        d = decisions[item]
        assert (d.query, d.reason) == (True, "uncertain") and d.confidence < 0.8 and d.lease_expires_at > 0

    # Queried items joined the pool, leased to the stream's annotator; auto labels did not.
    stats = client.stats("s")
    assert (stats.pool_size, stats.leased, stats.auto_labeled, stats.labeled) == (122, 2, 3, 30)
    assert not {"mid", "far"} & {s.id for s in client.next_sample("s", 50)}
    client.submit_label("s", "mid", "red")
    # Auto labels are predictions: exported as such, never as human labels.
    assert "c0" not in client.export_labels("s")
    exported = client.export("s", include_predictions=True)
    by_id = {r.id: r for r in exported}
    assert (by_id["c0"].source, by_id["c0"].label) == ("auto", "red")
    assert by_id["mid"].source == "human"

    # Streamed items are in the log: a restart replays them into the same state.
    probe = [f"{CLASSES[c]}-{i}" for c in range(3) for i in (20, 30)] + ["mid", "far"]
    before = (client.export("s", include_predictions=True), client.predict("s", probe), client.stats("s"))
    client = server.restart().client()
    after = (client.export("s", include_predictions=True), client.predict("s", probe), client.stats("s"))
    assert after == before
    assert {s.id for s in client.next_sample("s", 200)}.isdisjoint({"far"})  # its lease survived too


def test_stream_items_are_checked_and_a_bad_one_ends_the_stream_with_its_error(server, centres) -> None:
    client = server.client()
    labeled_project(client, "bad", centres)
    x = near(centres, 0, 1, spread=0.3, seed=5)[0]
    cases = [
        ([("red-3", x)], Code.ALREADY_EXISTS, "already in the pool"),
        ([("new", np.ones(DIM + 1, np.float32))], Code.INVALID_ARGUMENT, "dimension"),
        ([("nan", np.full(DIM, np.nan, np.float32))], Code.INVALID_ARGUMENT, "NaN"),
        ([("text", "a text")], Code.FAILED_PRECONDITION, "no encoder"),
    ]
    for items, code, words in cases:
        with pytest.raises(ServiceError) as caught:
            list(client.stream("bad", items, threshold=0.5))
        assert caught.value.code == code and words in caught.value.message
    with pytest.raises(ServiceError) as caught:
        list(client.stream("bad", [("t", x)], threshold=1.5))
    assert caught.value.code == Code.INVALID_ARGUMENT and "(0, 1]" in caught.value.message
    assert client.stats("bad").pool_size == 120 and client.stats("bad").auto_labeled == 0
    # An auto-labeled id cannot come back.
    assert not next(client.stream("bad", [("once", x)], threshold=0.5)).query
    with pytest.raises(ServiceError) as caught:
        list(client.stream("bad", [("once", x)], threshold=0.5))
    assert caught.value.code == Code.ALREADY_EXISTS


def test_concurrent_streams_never_exceed_the_label_budget(server, centres) -> None:
    client = server.client()
    client.create_project("budget", DIM, label_budget=10)
    client.add_items("budget", [f"p{i}" for i in range(30)], near(centres, 0, 30, spread=2.0, seed=1))
    # No labels yet: every streamed item is uncertain and asks to be queried.
    results: dict[int, list] = {}

    def run(worker: int) -> None:
        items = [(f"w{worker}-{i}", v) for i, v in enumerate(near(centres, 1, 15, spread=2.0, seed=worker))]
        results[worker] = list(server.client().stream("budget", items, threshold=0.9, annotator=f"w{worker}"))

    threads = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    decisions = [d for worker in results.values() for d in worker]
    assert len(decisions) == 60
    assert sum(d.query for d in decisions) == 10
    assert {d.reason for d in decisions if not d.query} == {"budget_exhausted"}
    assert all(d.budget_left == 0 for d in decisions if not d.query)
    # Each stream saw its budget_left fall with its own queries.
    for worker in results.values():
        left = [d.budget_left for d in worker]
        assert left == sorted(left, reverse=True)
    batch = client.next_sample("budget", 5)
    assert list(batch) == [] and batch.progress.stop_reason == "budget_reached" and batch.progress.budget_left == 0
    # Raising the budget lets NextSample hand out again, exactly up to the new budget.
    client.set_goals("budget", label_budget=13)
    assert len(client.next_sample("budget", 5)) == 3


# -------------------------------------------------------------- goals, stats
def test_next_sample_says_when_the_target_accuracy_is_reached(server, centres) -> None:
    client = server.client()
    client.create_project("goal", DIM, target_accuracy=0.9)
    x = np.concatenate([near(centres, c, 30, spread=0.5, seed=c) for c in range(3)])
    ids = [f"{CLASSES[c]}-{i}" for c in range(3) for i in range(30)]
    client.add_items("goal", ids, x)
    first = client.next_sample("goal", 1)
    assert first.progress.stop_reason == "" and math.isnan(first.progress.estimate.accuracy)
    client.release("goal", [first[0].id])
    client.submit_labels("goal", {i: i.split("-")[0] for i in ids[:10] + ids[30:40] + ids[60:70]})
    progress = client.next_sample("goal", 1).progress
    # 30 correct leave-one-out predictions: lower bound 0.886 < 0.9, keep going.
    assert progress.estimate.accuracy == 1.0 and progress.estimate.low < 0.9 and progress.stop_reason == ""
    client.submit_labels("goal", {i: i.split("-")[0] for i in ids[10:14] + ids[40:44]})
    progress = client.next_sample("goal", 1).progress
    assert progress.estimate.labeled == 38 and progress.estimate.low >= 0.9
    assert progress.stop_reason == "target_reached"
    stats = client.stats("goal")
    assert stats.progress.stop_reason == "target_reached" and 0 <= stats.mean_uncertainty <= 1
    with pytest.raises(ServiceError) as caught:
        client.set_goals("goal", target_accuracy=1.5)
    assert caught.value.code == Code.INVALID_ARGUMENT
    assert client.get_project("goal").target_accuracy == 0.9


# ------------------------------------------------------ duplicates, outliers
def test_duplicates_group_propagate_undo_and_survive_a_restart(server, centres) -> None:
    client = server.client()
    client.create_project("dup", DIM, outlier_quantile=0.0)
    base = np.concatenate([near(centres, c, 20, spread=3.0, seed=c) for c in range(3)])
    near_copy = unit(base[[1]] + 0.05 * np.random.default_rng(9).standard_normal((1, DIM)) / np.sqrt(DIM))
    ids = [f"i{k}" for k in range(60)] + ["i0-copy", "i1-near"]
    client.add_items("dup", ids, np.concatenate([base, base[[0]], near_copy]))
    stats = client.stats("dup")
    assert (stats.duplicate_groups, stats.grouped_items) == (2, 4)
    handed = {s.id for s in client.next_sample("dup", 100, strategy="random")}
    assert len(handed) == 60 and not handed & {"i0-copy", "i1-near"}
    client.release("dup", list(handed))

    receipt = client.submit_label("dup", "i1-near", "red")
    assert receipt.propagated == ["i1"]
    client.submit_label("dup", "i0", "blue")
    exported = {(r.id, r.label, r.source) for r in client.export("dup")}
    assert exported == {("i1-near", "red", "human"), ("i0", "blue", "human"),
                        ("i1", "red", "propagated"), ("i0-copy", "blue", "propagated")}
    # Removing a propagated label takes the item out of its group; removing a human one
    # withdraws its propagation.
    client.remove_labels("dup", ["i0-copy"])
    client.remove_labels("dup", ["i1-near"])
    before = {(r.id, r.source) for r in client.export("dup")}
    assert before == {("i0", "human")}
    assert client.stats("dup").propagated == 0

    client = server.restart().client()
    assert {(r.id, r.source) for r in client.export("dup")} == before
    stats = client.stats("dup")
    assert (stats.duplicate_groups, stats.grouped_items) == (1, 2)  # i0-copy left its group
    assert "i0-copy" in {s.id for s in client.next_sample("dup", 100, strategy="random")}


def test_outliers_are_listed_and_skipped_unless_asked(server, centres) -> None:
    client = server.client()
    client.create_project("out", DIM, outlier_quantile=0.05)
    x = np.concatenate([near(centres, 0, 60, spread=0.6, seed=1), -unit(centres[:1] + centres[1:2])])
    ids = [f"i{k}" for k in range(60)] + ["odd"]
    client.add_items("out", ids, x)
    outliers = client.outliers("out")
    assert outliers[0][0] == "odd" and len(outliers) == 3
    handed = [s.id for s in client.next_sample("out", 100)]
    assert len(handed) == 58 and not {o for o, _ in outliers} & set(handed)
    client.release("out", handed)
    assert len(client.next_sample("out", 100, include_outliers=True)) == 61


# ----------------------------------------------------------------------- export
def _export(server, *options: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "knn_al.cli", "export", "--server", server.address, *options],
                          capture_output=True, timeout=120)


def test_export_cli_writes_every_format_with_metadata_annotator_and_time(server, centres, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    client = server.client()
    labeled_project(client, "exp", centres)
    client.update_metadata("exp", {"red-0": {"text": "first", "n": 0}})
    client.submit_label("exp", "red-1", "red", annotator="ana")
    expected = client.export("exp", include_predictions=True)
    assert len(expected) == 120
    assert {r.source for r in expected} == {"human", "predicted"}
    assert all(r.label == r.id.split("-")[0] for r in expected if r.source == "predicted")
    by_id = {r.id: r for r in expected}
    assert by_id["red-0"].metadata == {"text": "first", "n": 0} and by_id["red-1"].annotator == "ana"
    assert by_id["red-1"].labeled_at > by_id["red-0"].labeled_at > 0 and by_id["red-20"].labeled_at == 0
    want = [(r.id, r.label, r.source, r.confidence, r.annotator, r.metadata) for r in expected]
    for fmt in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"labels.{fmt}"
        done = _export(server, "--project", "exp", "--out", str(out), "--predictions")
        assert done.returncode == 0, done.stderr
        assert f"wrote 120 records to {out} as {fmt}" in done.stderr.decode() and not done.stdout
        if fmt == "jsonl":
            rows = [json.loads(line) for line in out.read_text().splitlines()]
        elif fmt == "csv":
            rows = list(csv.DictReader(out.read_text().splitlines()))
        else:
            rows = pq.read_table(out).to_pylist()
        if fmt != "jsonl":
            for row in rows:
                row["metadata"] = json.loads(row["metadata"])
        assert [(r["id"], r["label"], r["source"], float(r["confidence"]), r["annotator"], r["metadata"])
                for r in rows] == want
        stamp = next(r["labeled_at"] for r in rows if r["id"] == "red-1")
        assert stamp.endswith("Z") and abs(datetime.fromisoformat(stamp).timestamp() - by_id["red-1"].labeled_at) < 1e-3
    piped = _export(server, "--project", "exp", "-o", "-", "--quiet")
    assert piped.returncode == 0 and not piped.stderr
    assert [json.loads(line)["id"] for line in piped.stdout.decode().splitlines()] == [r.id for r in expected if r.source == "human"]
    tasks = json.loads(_export(server, "--project", "exp", "-o", "-", "--format", "label-studio", "--predictions").stdout)
    first = next(t for t in tasks if t["data"]["knn_al_id"] == "red-0")
    assert first["data"] == {"text": "first", "n": 0, "knn_al_id": "red-0"}
    assert first["annotations"] == [{"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                                 "value": {"choices": ["red"]}}]}]
    guess = next(t for t in tasks if t["data"]["knn_al_id"] == "green-20")
    assert "annotations" not in guess and guess["predictions"][0]["result"][0]["value"] == {"choices": ["green"]}
    assert guess["predictions"][0]["score"] == pytest.approx(by_id["green-20"].confidence)

    done = _export(server, "--project", "nope", "--out", str(tmp_path / "x.csv"))
    assert done.returncode == 1 and b"NOT_FOUND" in done.stderr and not (tmp_path / "x.csv").exists()
    done = _export(server, "--project", "exp", "--out", str(tmp_path / "x.txt"))
    assert done.returncode == 2 and b"name it .jsonl, .csv, .parquet, .json" in done.stderr
    config = tmp_path / "config.xml"
    config.write_text('<View><Text name="t" value="$text"/><Choices name="c" toName="t">'
                      '<Choice value="a"/><Choice value="b"/></Choices></View>')
    done = _export(server, "--project", "exp", "-o", str(tmp_path / "ls.json"), "--label-config", str(config))
    assert done.returncode == 2 and not (tmp_path / "ls.json").exists()
    assert b"label 'red' of item 'red-0' is not one of the labeling config's choices (a, b)" in done.stderr
