"""End to end: a real Label Studio 1.23 (tests/label_studio_helpers.py) with the bridge as its
ML backend (the real aiohttp app on loopback, over a real ``knn-al serve``).

Through Label Studio's REST API only: a text-classification project of 200 BBC News articles,
the bridge connected through ``POST /api/ml`` (its /setup syncs the whole pool into knn-al and
pushes predictions), 20 annotations (each one's webhook relabels knn-al and pushes refreshed
predictions), then: every unlabeled task has one prediction of the bridge, ordering them by
ascending score is knn-al's NextSample order, and Label Studio's uncertainty sampling hands
out knn-al's next pick; an updated annotation relabels, a deleted one removes the label;
tasks imported later join knn-al's pool, a deleted task leaves it; a restarted bridge
changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from knn_al.client import Client
from knn_al.label_studio.mapping import item_id, project_name
from knn_al.label_studio.predictions import RANKED, UNRANKED_SCORE
from knn_al.label_studio.rest import LabelStudioApi
from knn_al.simulation.bbc_news import corpus_dir
from knn_al.simulation.server_process import ServerProcess
from tests.label_studio_helpers import LabelStudio
from tests.page_helpers import bbc_items, topic_of
from tests.test_label_studio_backend import Backend

TOPICS = sorted(p.name for p in corpus_dir().iterdir() if p.is_dir())
CONFIG = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text" choice="single">'
          + "".join(f'<Choice value="{t}"/>' for t in TOPICS) + "</Choices></View>")
SETTLE = 120  # seconds the bridge's queued syncs and pushes may take


def choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def predictions(ls: LabelStudio, project: int) -> dict[int, list[tuple[float, list[Any]]]]:
    """The bridge's stored predictions by task: [(score, result)]."""
    stored: dict[int, list[tuple[float, list[Any]]]] = {}
    for p in ls.api("GET", f"/api/predictions?project={project}"):
        if p["model_version"] == "knn-al":
            stored.setdefault(p["task"], []).append((p["score"], p["result"]))
    return stored


def check_order(ls: LabelStudio, pid: int, client: Client, name: str) -> dict[int, list[tuple[float, list[Any]]]]:
    """Each unannotated task has one bridge prediction (its knn-al predicted label), and
    ascending score is knn-al's NextSample order, then the tasks past its window (the
    propagated ones, near-duplicates knn-al labeled itself, among them). Returns them all."""
    stored = predictions(ls, pid)
    unlabeled = {r.id: r for state in ("unlabeled", "propagated")
                 for r in client.list_items(name, state=state, page_size=1000).items}
    assert all(len(stored[int(i[5:])]) == 1 for i in unlabeled)
    for i, record in unlabeled.items():
        result = stored[int(i[5:])][0][1]
        assert [r["value"]["choices"] for r in result] == ([[record.predicted_label]] if record.predicted_label else [])
    by_score = sorted(unlabeled, key=lambda i: stored[int(i[5:])][0][0])
    order = [s.id for s in client.next_sample(name, RANKED, seed=0, preview=True)]
    assert by_score[:len(order)] == order
    assert all(stored[int(i[5:])][0][0] == UNRANKED_SCORE for i in by_score[len(order):])
    return stored


def test_the_bridge_keeps_label_studio_ordered_as_knn_al_picks(
        label_studio: LabelStudio, serve: Callable[..., ServerProcess], tmp_path: Path) -> None:
    ls = label_studio
    ids, _, metadata = bbc_items(210)
    topic = {m["text"]: topic_of(i) for i, m in zip(ids, metadata)}
    topic[metadata[0]["text"] + " (again)"] = topic_of(ids[0])  # imported after a restart
    # The project settings the README asks for: uncertainty sampling (the ML backend, titled
    # knn-al, becomes the project's model version when it is connected).
    pid = ls.api("POST", "/api/projects", {"title": "bbc", "label_config": CONFIG,
                                           "sampling": "Uncertainty sampling"})["id"]
    assert ls.api("POST", f"/api/projects/{pid}/import", [{"text": m["text"]} for m in metadata[:200]])[
        "task_count"] == 200
    server = serve(tmp_path / "data")
    name = project_name(pid)
    bridge = Backend(server.address)
    port = int(bridge.url.rsplit(":", 1)[1])
    try:
        ml = ls.api("POST", "/api/ml", {"url": bridge.url, "project": pid, "title": "knn-al"})
        assert ml["state"] == "CO", ml
        assert ls.api("GET", f"/api/projects/{pid}")["model_version"] == "knn-al"
        assert bridge.bridge.settle(SETTLE) == []
        # The pool sync: every task is an item, not only those Label Studio asked predictions for.
        assert bridge.client.get_project(name).pool_size == 200
        assert len(predictions(ls, pid)) == 200

        def annotate(how_many: int) -> dict[int, int]:
            """As an annotator in Label Studio: take the task Label Studio hands out next
            (knn-al's next pick), label it. Returns {task: annotation}."""
            made = {}
            for _ in range(how_many):
                task = ls.api("GET", f"/api/projects/{pid}/next")["id"]
                assert item_id(task) == bridge.client.next_sample(name, 1, seed=0, preview=True)[0].id
                made[task] = ls.api("POST", f"/api/tasks/{task}/annotations", {"result": choice(topic[text(task)])})[
                    "id"]
                assert bridge.bridge.settle(SETTLE) == []  # the push after the annotation
            return made

        def text(task: int) -> str:
            return str(ls.api("GET", f"/api/tasks/{task}")["data"]["text"])

        check_order(ls, pid, bridge.client, name)
        annotations = annotate(20)
        labeled = {r.id: r.label for r in bridge.client.list_items(name, state="labeled", page_size=1000).items}
        assert len(annotations) == 20 and labeled == {item_id(t): topic[text(t)] for t in annotations}
        stored = check_order(ls, pid, bridge.client, name)
        assert len(stored) == 200  # labeled tasks keep the prediction they had (pushes send unlabeled ones)
        assert sum(1 for p in stored.values() if p[0][1]) >= 180  # predicted labels once knn-al has labels

        first, second = list(annotations)[:2]
        wrong = next(t for t in TOPICS if t != topic[text(first)])
        ls.api("PATCH", f"/api/annotations/{annotations[first]}", {"result": choice(wrong)})
        ls.api("DELETE", f"/api/annotations/{annotations[second]}", expect=204)
        assert bridge.bridge.settle(SETTLE) == []
        (relabeled, removed) = bridge.client.items(name, [item_id(first), item_id(second)])
        assert (relabeled.state, relabeled.label) == ("labeled", wrong)
        assert (removed.state, removed.label) == ("unlabeled", "")

        # Tasks imported later join the pool (TASKS_CREATED); a deleted task leaves it (TASKS_DELETED).
        ls.api("POST", f"/api/projects/{pid}/import", [{"text": m["text"]} for m in metadata[200:]])
        assert bridge.bridge.settle(SETTLE) == []
        assert bridge.client.get_project(name).pool_size == 210
        gone = ls.api("GET", f"/api/projects/{pid}/next")["id"]
        ls.api("DELETE", f"/api/tasks/{gone}", expect=204)
        assert bridge.bridge.settle(SETTLE) == []
        assert bridge.client.get_project(name).pool_size == 209
        assert item_id(gone) not in {s.id for s in bridge.client.next_sample(name, 300, seed=0, preview=True)}
        before = check_order(ls, pid, bridge.client, name), bridge.client.list_items(name, page_size=1000).items

        # A restart of the bridge on its URL; Label Studio's next look at the backend sets it up again.
        bridge.stop()
        bridge = Backend(server.address, port=port)
        assert ls.api("GET", f"/api/ml/{ml['id']}")["state"] == "CO"
        assert bridge.bridge.settle(SETTLE) == []
        after = check_order(ls, pid, bridge.client, name), bridge.client.list_items(name, page_size=1000).items
        assert after == before

        # Restarted with its own way into Label Studio (--label-studio-url), the bridge follows
        # the project without waiting for a /setup: an imported task joins, an annotation pushes.
        bridge.stop()
        bridge = Backend(server.address, port=port, label_studio=LabelStudioApi(hostname=ls.url, token=ls.token))
        ls.api("POST", f"/api/projects/{pid}/import", [{"text": metadata[0]["text"] + " (again)"}])
        assert bridge.bridge.settle(SETTLE) == []
        assert bridge.client.get_project(name).pool_size == 210
        annotate(1)
        check_order(ls, pid, bridge.client, name)
    finally:
        bridge.stop()
