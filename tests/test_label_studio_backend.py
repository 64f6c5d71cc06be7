"""The Label Studio ML backend (knn_al.label_studio.backend over the Bridge) against a real
``knn-al serve`` and the real aiohttp app on a loopback port, fed the JSON Label Studio
sends (shapes in the knn_al.label_studio docstring). One server for the module: its
use-multilingual encoder loads once (~8 s); each test uses its own Label Studio project id.
The end-to-end test against a real Label Studio is another module's."""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from knn_al.client import Client
from knn_al.label_studio.backend import make_app
from knn_al.label_studio.bridge import ANNOTATION_KEY, Bridge
from knn_al.label_studio.predictions import RANKED
from knn_al.simulation.server_process import ServerProcess

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="topic" toName="text" choice="single">
    <Choice value="Sport"/><Choice value="Politics"/><Choice value="Cooking"/>
  </Choices>
</View>"""
NER = """<View><Text name="text" value="$text"/>
<Labels name="who" toName="text"><Label value="Person"/></Labels></View>"""
TEXTS = [
    "The striker scored twice in the cup final", "Tennis champion wins the open in five sets",
    "The marathon runner broke the course record", "Our goalkeeper saved a penalty in extra time",
    "The cycling team won the mountain stage", "A late try gave the rugby side the win",
    "The boxer kept his heavyweight title", "Swimmers set a relay world record",
    "The coach was sacked after ten straight defeats", "Basketball playoffs go to a seventh game",
    "Parliament passed the budget after a long debate", "The prime minister called an early election",
    "Senators voted against the new tax bill", "The opposition leader resigned after the poll",
    "Ministers met to discuss the border treaty", "The president vetoed the immigration law",
    "Voters head to the polls in the local elections", "The coalition government collapsed overnight",
    "A new party won seats in the regional assembly", "The foreign minister signed a trade agreement",
    "Simmer the tomatoes with garlic and basil", "Knead the dough and let it rise for an hour",
    "Roast the chicken with lemon and thyme", "Whisk the eggs with sugar until pale",
    "Fry the onions slowly until golden brown", "Season the soup with salt and black pepper",
    "Bake the bread in a very hot oven", "Marinate the beef overnight in red wine",
    "Chop the herbs finely for the green sauce", "Steam the rice and serve it with curry",
]
TASKS = [{"id": 100 + i, "data": {"text": text}} for i, text in enumerate(TEXTS)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("data")) as started:
        yield started


class Backend:
    """The ML backend app over a new Bridge (with ``options``, and a client) on a loopback
    port (``port``, or a free one), on an event loop of its own thread."""

    def __init__(self, address: str, *, port: int = 0, **options: Any) -> None:
        self.client = Client(address)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.bridge = Bridge(self.client, **options)
        self._runner = web.AppRunner(make_app(self.bridge))
        self._await(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        self._await(site.start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def _await(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=120)

    def stop(self) -> None:
        """Stop the app and close its client (again: nothing)."""
        if self._loop.is_closed():
            return
        self._await(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self.client.close()

    def call(self, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON reply) of GET ``path``, or POST ``body`` as JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    def ok(self, path: str, body: Any = None) -> Any:
        status, reply = self.call(path, body)
        assert 200 <= status < 300, (status, reply)
        return reply


@pytest.fixture
def backend(server: ServerProcess) -> Iterator[Backend]:
    started = Backend(server.address)
    yield started
    started.stop()


def setup(backend: Backend, project: int, schema: str = CONFIG) -> tuple[int, Any]:
    # No hostname and access_token: this bridge cannot call back into a Label Studio (there is
    # none here), so it neither syncs the pool nor pushes predictions (the end-to-end test does).
    return backend.call("/setup", {"project": f"{project}.1700000000", "schema": schema, "extra_params": {}})


def predict(backend: Backend, project: int, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    reply = backend.ok("/predict", {"tasks": tasks, "model_version": "knn-al", "project": f"{project}.1700000000",
                                    "label_config": CONFIG, "params": {"login": None, "password": None,
                                                                       "context": None}})
    return reply["results"]  # type: ignore[no-any-return]


def annotation(project: int, action: str, *, annotation: int, task: int, label: str | None,
               cancelled: bool = False, user: int = 1) -> dict[str, Any]:
    result = [] if label is None else [{"from_name": "topic", "to_name": "text", "type": "choices",
                                        "value": {"choices": [label]}}]
    return {"action": action, "project": {"id": project, "label_config": CONFIG},
            "task": {"id": task, "data": {"text": TEXTS[task - 100]}},
            "annotation": {"id": annotation, "task": task, "result": result, "was_cancelled": cancelled,
                           "ground_truth": False, "completed_by": user}}


def deleted(project: int, *annotations: int) -> dict[str, Any]:
    return {"action": "ANNOTATIONS_DELETED", "project": {"id": project, "label_config": CONFIG},
            "annotations": [{"id": a} for a in annotations]}


def state(client: Client, name: str) -> str:
    """What a user can observe of project ``name``: items, label events (with their times),
    stats; as text, where an accuracy not known yet (nan) equals itself."""
    items = client.list_items(name, page_size=1000).items
    return repr((items, client.recent_labels(name, limit=1000), client.stats(name)))


def test_health_and_setup_open_or_create_the_project_and_refuse_what_it_cannot_serve(backend: Backend) -> None:
    assert backend.ok("/health") == backend.ok("/") == {"status": "UP", "model_class": "knn-al"}
    assert setup(backend, 1) == (200, {"model_version": "knn-al"})
    info = backend.client.get_project("label-studio-1")
    assert (info.labels, info.encoder, info.pool_size) == (["Sport", "Politics", "Cooking"], "use-multilingual", 0)
    assert setup(backend, 1) == (200, {"model_version": "knn-al"})  # opened again, not created twice
    status, reply = setup(backend, 2, NER)
    assert status == 400 and reply["error"].startswith("unsupported labeling config: knn-al serves classification")
    assert "label-studio-2" not in {p.name for p in backend.client.list_projects()}
    status, reply = setup(backend, 1, CONFIG.replace("Cooking", "Science"))
    assert status == 400 and "delete the knn-al project" in reply["error"]
    assert backend.call("/setup", {"project": "3.1700000000"})[0] == 400


def test_predictions_come_in_task_order_and_their_scores_order_tasks_as_knn_al_picks(backend: Backend) -> None:
    name = "label-studio-5"
    assert setup(backend, 5)[0] == 200
    first = predict(backend, 5, TASKS[:20])
    assert len(first) == 20 and all(r["result"] == [] and r["model_version"] == "knn-al" for r in first)
    predict(backend, 5, TASKS)  # the ten unseen tasks join the pool, the others stay as they are
    assert backend.client.get_project(name).pool_size == 30
    (record,) = backend.client.items(name, ["task-104"])
    assert record.metadata == {"ls_task": 104, "text": TEXTS[4]}
    for task, label in ((100, "Sport"), (110, "Politics"), (120, "Cooking")):
        backend.ok("/webhook", annotation(5, "ANNOTATION_CREATED", annotation=task, task=task, label=label))
    shuffled = random.Random(1).sample(TASKS, len(TASKS))
    results = predict(backend, 5, shuffled)
    by_task = {t["id"]: r for t, r in zip(shuffled, results)}  # one result per task, in the request's order
    records = {r.id: r for r in backend.client.items(name, [f"task-{t['id']}" for t in TASKS])}
    for task, result in by_task.items():
        assert result["result"] == [{"from_name": "topic", "to_name": "text", "type": "choices",
                                     "value": {"choices": [records[f"task-{task}"].predicted_label]}}]
    assert {by_task[t]["score"] for t in (100, 110, 120)} == {1.0}  # labeled: after every unlabeled task
    # Tasks predicted one by one score as in one request: scores of separate requests compare.
    assert [predict(backend, 5, [t])[0] for t in shuffled[:5]] == results[:5]
    by_score = sorted((r["score"], t) for t, r in by_task.items() if t not in (100, 110, 120))
    picked = backend.client.next_sample(name, 1000, seed=0)  # what knn-al hands out next, for real
    assert [f"task-{t}" for _, t in by_score[:RANKED]] == [s.id for s in picked[:RANKED]]
    assert {score for score, _ in by_score[RANKED:]} == {1.0}  # past the window: after it, unordered


def test_annotations_label_relabel_skip_and_their_deletion_undoes_them_and_replays_change_nothing(
        backend: Backend, server: ServerProcess) -> None:
    name, bridge = "label-studio-7", [backend]
    assert setup(backend, 7)[0] == 200
    predict(backend, 7, TASKS[:10])

    def sent(payload: dict[str, Any]) -> Any:
        """Send ``payload``, then again: the replay leaves the state the first one made
        (and answers 2xx: Label Studio retries a failed webhook)."""
        reply = bridge[0].ok("/webhook", payload)
        after = state(bridge[0].client, name)
        bridge[0].ok("/webhook", payload)
        assert state(bridge[0].client, name) == after, payload
        return reply

    def item(task: int) -> tuple[str, str, str, Any]:
        (record,) = bridge[0].client.items(name, [f"task-{task}"])
        return record.state, record.label, record.annotator, record.metadata.get(ANNOTATION_KEY)

    assert sent(annotation(7, "ANNOTATION_CREATED", annotation=51, task=101, label="Sport")) == {
        "result": {"task": 101, "state": "labeled"}, "status": "ok"}
    assert item(101) == ("labeled", "Sport", "label-studio-user-1", 51)
    sent(annotation(7, "ANNOTATION_UPDATED", annotation=51, task=101, label="Politics"))
    assert item(101) == ("labeled", "Politics", "label-studio-user-1", 51)
    sent(annotation(7, "ANNOTATION_CREATED", annotation=52, task=102, label="Sport", cancelled=True))
    assert item(102) == ("skipped", "", "", 52)
    # Another annotator's empty annotation of task 101 does not undo annotation 51's label.
    sent(annotation(7, "ANNOTATION_CREATED", annotation=53, task=101, label=None, user=2))
    assert item(101) == ("labeled", "Politics", "label-studio-user-1", 51)
    # A task the bridge never predicted comes with its data: added, then labeled.
    sent(annotation(7, "ANNOTATION_CREATED", annotation=54, task=125, label="Cooking"))
    assert item(125) == ("labeled", "Cooking", "label-studio-user-1", 54)
    sent(annotation(7, "ANNOTATION_UPDATED", annotation=54, task=125, label=None))  # saved without a choice
    assert item(125)[:2] == ("unlabeled", "")
    sent(annotation(7, "ANNOTATION_CREATED", annotation=55, task=103, label="Sport"))

    # A restart of the bridge: the deletions, which name annotations only, still find their tasks.
    backend.stop()
    bridge[0] = Backend(server.address)
    try:
        assert sent(deleted(7, 51, 52, 999)) == {"result": {"tasks": [101, 102]}, "status": "ok"}
        assert item(101) == ("unlabeled", "", "", None) and item(102) == ("unlabeled", "", "", None)
        assert item(103) == ("labeled", "Sport", "label-studio-user-1", 55)
        single = annotation(7, "ANNOTATION_DELETED", annotation=55, task=103, label="Sport")
        assert sent(single) == {"result": {"tasks": [103]}, "status": "ok"}
        assert item(103)[:2] == ("unlabeled", "")
        assert bridge[0].call("/webhook", {"action": "PROJECT_UPDATED", "project": {"id": 7}}) == (
            200, {"status": "Unknown event"})
        status, reply = bridge[0].call("/webhook", annotation(7, "ANNOTATION_CREATED", annotation=56, task=104,
                                                             label="Astronomy"))
        assert status == 400 and "'Astronomy'" in reply["error"] and item(104)[:2] == ("unlabeled", "")
    finally:
        bridge[0].stop()


def test_a_restarted_bridge_predicts_the_same(backend: Backend, server: ServerProcess) -> None:
    assert setup(backend, 9)[0] == 200
    predict(backend, 9, TASKS)
    for task, label in ((101, "Sport"), (111, "Politics"), (121, "Cooking"), (102, "Sport")):
        backend.ok("/webhook", annotation(9, "ANNOTATION_CREATED", annotation=task, task=task, label=label))
    before = predict(backend, 9, TASKS), state(backend.client, "label-studio-9")
    again = Backend(server.address)
    try:
        assert setup(again, 9) == (200, {"model_version": "knn-al"})
        assert (predict(again, 9, TASKS), state(again.client, "label-studio-9")) == before
    finally:
        again.stop()


def test_deleted_tasks_leave_the_pool_and_a_replay_changes_nothing(backend: Backend) -> None:
    name, project = "label-studio-12", {"id": 12, "label_config": CONFIG}
    assert setup(backend, 12)[0] == 200
    predict(backend, 12, TASKS[:5])
    backend.ok("/webhook", annotation(12, "ANNOTATION_CREATED", annotation=1, task=100, label="Sport"))
    gone = {"action": "TASKS_DELETED", "project": project, "tasks": [{"id": 100}, {"id": 101}, {"id": 999}]}
    assert backend.ok("/webhook", gone) == {"result": {"created": 0, "removed": 2}, "status": "ok"}
    after = state(backend.client, name)
    assert backend.client.get_project(name).pool_size == 3
    assert {r.id for r in backend.client.list_items(name, page_size=100).items} == {"task-102", "task-103", "task-104"}
    assert backend.ok("/webhook", gone) == {"result": {"created": 0, "removed": 0}, "status": "ok"}
    assert state(backend.client, name) == after
    # Without a way to call back into Label Studio (no hostname and token here), created tasks
    # wait for their /predict or annotation to join.
    created = {"action": "TASKS_CREATED", "project": project, "tasks": [{"id": 105, "data": {"text": TEXTS[5]}}]}
    assert backend.ok("/webhook", created) == {"result": {"created": 1, "removed": 0}, "status": "ok"}
    assert backend.bridge.settle(60) == [] and state(backend.client, name) == after


def test_bad_requests_are_refused_with_a_message(backend: Backend) -> None:
    assert setup(backend, 11)[0] == 200
    request = urllib.request.Request(backend.url + "/predict", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400 and "not JSON" in json.loads(refused.value.read())["error"]
    status, reply = backend.call("/predict", {"tasks": [{"id": 1, "data": {"body": "x"}}], "project": "11.1",
                                              "label_config": CONFIG})
    assert status == 400 and "has no data field 'text'" in reply["error"]
    assert backend.client.get_project("label-studio-11").pool_size == 0


def test_the_command_serves_the_backend_until_terminated(server: ServerProcess) -> None:
    command = [sys.executable, "-m", "knn_al.cli", "label-studio", "--server", server.address, "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            line = process.stdout.readline() if process.stdout else ""
            found = re.fullmatch(r"knn-al label-studio backend on 127\.0\.0\.1:(\d+)\n", line)
            assert found, line
            url = f"http://127.0.0.1:{found.group(1)}"
            with urllib.request.urlopen(url + "/health", timeout=30) as reply:
                assert json.loads(reply.read()) == {"status": "UP", "model_class": "knn-al"}
        finally:
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    # A server that cannot be reached: one line and exit code 1, before listening.
    nowhere = subprocess.run([*command[:5], "127.0.0.1:1", "--timeout", "2"], capture_output=True, text=True,
                             timeout=120)
    assert (nowhere.returncode, nowhere.stdout) == (1, "")
    assert nowhere.stderr.startswith("knn-al label-studio: 127.0.0.1:1: UNAVAILABLE"), nowhere.stderr


@pytest.mark.parametrize(("options", "token", "code", "message"), [
    (["--label-studio-url", "http://127.0.0.1:1"], None, 2,
     "--label-studio-url needs Label Studio's token: --label-studio-token-file FILE or $LABEL_STUDIO_API_KEY"),
    (["--label-studio-url", "http://127.0.0.1:1"], "eyJh.eyJ0.sig", 2, "that is a personal access token"),
    (["--label-studio-url", "localhost:8080"], "abc", 2, "Label Studio's hostname must be an http(s) URL"),
    (["--label-studio-url", "http://127.0.0.1:1"], "abc", 1,
     "Label Studio GET /api/current-user/whoami: 127.0.0.1:1 cannot be reached"),
])
def test_the_commands_label_studio_options_are_checked_before_it_listens(
        server: ServerProcess, tmp_path: Any, options: list[str], token: str | None, code: int, message: str) -> None:
    command = [sys.executable, "-m", "knn_al.cli", "label-studio", "--server", server.address, "--port", "0", *options]
    if token is not None:
        (tmp_path / "token").write_text(token + "\n")
        command += ["--label-studio-token-file", str(tmp_path / "token")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert (done.returncode, done.stdout) == (code, "")
    assert done.stderr.startswith(f"knn-al label-studio: {message}"), done.stderr
