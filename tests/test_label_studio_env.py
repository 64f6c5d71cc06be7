"""The Label Studio test environment works, and pins what Label Studio 1.23 sends to an ML backend.

A real Label Studio (tests/label_studio_helpers.py) and, as its ML backend, a tiny HTTP server
on loopback that answers the protocol of HumanSignal's label-studio-ml-backend and records
every request. Through Label Studio's REST API the test makes a text-classification project,
imports tasks, annotates one, connects the recorder as the project's ML backend and asks for
predictions; it checks the bodies Label Studio sent, which the bridge of issue 14 must accept.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.label_studio_helpers import LabelStudio

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
          '<Choice value="a"/><Choice value="b"/></Choices></View>')
TEXTS = ["the match ended in a draw", "shares fell after the report", "a new phone was announced"]
MODEL_VERSION = "recorder-1"


def choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any


class Recorder:
    """An ML backend on 127.0.0.1 that records each request and answers like label-studio-ml-backend:
    /health {"status": "UP"}, /setup {"model_version"}, /predict {"results": [one per task]},
    /webhook 201 {"status": "ok"}."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._changed = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self, body: Any) -> None:
                with recorder._changed:
                    recorder.calls.append(Call(self.command, self.path, body))
                    recorder._changed.notify_all()

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self._record(None)
                self._answer(200, {"status": "UP", "model_class": "Recorder"})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"null")
                self._record(body)
                if self.path == "/setup":
                    self._answer(200, {"model_version": MODEL_VERSION})
                elif self.path == "/predict":
                    self._answer(200, {"results": [
                        {"result": choice("b"), "score": 0.25, "model_version": MODEL_VERSION} for _ in body["tasks"]]})
                elif self.path == "/webhook":
                    self._answer(201, {"status": "ok"})
                else:
                    self._answer(404, {"error": f"no route {self.path}"})

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
                pass  # keep the test's output for failures

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def take(self) -> list[Call]:
        """The calls so far, forgetting them."""
        with self._changed:
            calls, self.calls = self.calls, []
            return calls

    def wait_for(self, path: str, accept: Callable[[Any], bool] = lambda body: True, *,
                 seconds: float = 20) -> Any:
        """The body of the first recorded call to ``path`` that ``accept`` takes (removed from the
        record); fails after ``seconds``."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while True:
                for index, call in enumerate(self.calls):
                    if call.path == path and accept(call.body):
                        del self.calls[index]
                        return call.body
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"Label Studio did not call {path} within {seconds} s; it called "
                                f"{[(c.method, c.path) for c in self.calls]}")
                self._changed.wait(left)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    backend = Recorder()
    yield backend
    backend.close()


def action(name: str) -> Callable[[Any], bool]:
    return lambda body: body["action"] == name


def test_label_studio_runs_a_project_and_calls_its_ml_backend(label_studio: LabelStudio,
                                                              recorder: Recorder) -> None:
    ls = label_studio
    project = ls.api("POST", "/api/projects", {"title": "smoke", "label_config": CONFIG})
    pid = project["id"]
    assert ls.api("POST", f"/api/projects/{pid}/import", [{"text": t} for t in TEXTS])["task_count"] == 3
    listed = ls.api("GET", f"/api/tasks?project={pid}")
    assert [task["data"]["text"] for task in listed["tasks"]] == TEXTS
    task_ids = [task["id"] for task in listed["tasks"]]

    # Connecting the backend: GET /health, then POST /setup with the config and a token to call back with.
    backend = ls.api("POST", "/api/ml", {"url": recorder.url, "project": pid, "title": "knn-al"})
    assert backend["state"] == "CO", backend
    assert recorder.wait_for("/health") is None
    setup = recorder.wait_for("/setup")
    assert set(setup) == {"project", "schema", "hostname", "access_token", "extra_params"}, setup
    assert setup["project"].split(".")[0] == str(pid)  # "{id}.{created_at as a unix time}"
    assert (setup["schema"], setup["hostname"], setup["access_token"]) == (CONFIG, ls.url, ls.token)
    # ... and Label Studio itself registered {url}/webhook as a project webhook for every event.
    webhooks = ls.api("GET", f"/api/webhooks?project={pid}")
    assert [(w["url"], w["send_payload"], w["send_for_all_actions"], w["is_active"]) for w in webhooks] == [
        (recorder.url + "/webhook", True, True, True)]

    # An annotation: read back, counted on its task, and sent to the backend's /webhook at once.
    annotation = ls.api("POST", f"/api/tasks/{task_ids[0]}/annotations", {"result": choice("a")})
    assert ls.api("GET", f"/api/annotations/{annotation['id']}")["result"] == choice("a")
    counts = {t["id"]: t["total_annotations"] for t in ls.api("GET", f"/api/tasks?project={pid}")["tasks"]}
    assert counts == {task_ids[0]: 1, task_ids[1]: 0, task_ids[2]: 0}
    created = recorder.wait_for("/webhook", action("ANNOTATION_CREATED"))
    assert set(created) == {"action", "annotation", "project", "task"}
    assert (created["annotation"]["id"], created["annotation"]["result"]) == (annotation["id"], choice("a"))
    assert (created["task"]["id"], created["task"]["data"], created["project"]["id"]) == (
        task_ids[0], {"text": TEXTS[0]}, pid)
    assert created["project"]["label_config"] == CONFIG

    # Predictions for all tasks: one POST /predict with every task (annotations included).
    retrieved = ls.api("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={pid}",
                       {"selectedItems": {"all": True, "excluded": []}})
    assert retrieved["processed_items"] == 3, retrieved
    predict = recorder.wait_for("/predict")
    assert set(predict) == {"tasks", "project", "label_config", "params"}, predict
    assert (predict["project"], predict["label_config"]) == (setup["project"], CONFIG)
    assert predict["params"] == {"login": None, "password": None, "context": None}
    assert [(t["id"], t["data"]["text"]) for t in predict["tasks"]] == list(zip(task_ids, TEXTS))
    assert [len(t["annotations"]) for t in predict["tasks"]] == [1, 0, 0]
    stored = ls.api("GET", f"/api/predictions?project={pid}")
    assert sorted((p["task"], p["score"], p["model_version"], p["result"] == choice("b")) for p in stored) == [
        (task_id, 0.25, MODEL_VERSION, True) for task_id in task_ids]

    # Updating and deleting an annotation reach the webhook too; a deletion names only annotation ids.
    ls.api("PATCH", f"/api/annotations/{annotation['id']}", {"result": choice("b")})
    updated = recorder.wait_for("/webhook", action("ANNOTATION_UPDATED"))
    assert (updated["annotation"]["result"], updated["task"]["id"]) == (choice("b"), task_ids[0])
    ls.api("DELETE", f"/api/annotations/{annotation['id']}", expect=204)
    deleted = recorder.wait_for("/webhook", action("ANNOTATIONS_DELETED"))
    assert set(deleted) == {"action", "annotations", "project"}
    assert deleted["annotations"] == [{"id": annotation["id"]}]

    # With "evaluate predictions automatically", listing tasks asks /predict for those without one.
    ls.api("PATCH", f"/api/projects/{pid}", {"evaluate_predictions_automatically": True})
    new = ls.api("POST", f"/api/projects/{pid}/import", [{"text": "rain is expected tomorrow"}])
    assert new["task_count"] == 1
    recorder.take()
    listed = ls.api("GET", f"/api/tasks?project={pid}")
    predict = recorder.wait_for("/predict")
    assert [t["data"]["text"] for t in predict["tasks"]] == ["rain is expected tomorrow"]
    assert [t["total_predictions"] for t in ls.api("GET", f"/api/tasks?project={pid}")["tasks"]] == [1, 1, 1, 1]
