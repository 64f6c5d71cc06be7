"""What a running server says about itself: Prometheus metrics scraped during a short
labeling session over gRPC and HTTP, and the JSON access log (`knn-al serve --metrics-port
--log-format json`)."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from knn_al.client import ServiceError
from knn_al.simulation.server_process import ServerProcess

N, DIM = 40, 8


def scrape(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by (name, sorted labels)."""
    with urllib.request.urlopen(server.metrics_url, timeout=10) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def http(server: ServerProcess, method: str, path: str, body: dict | None = None) -> int:
    request = urllib.request.Request(server.http_url + "/api/v1" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture()
def server(tmp_path: Path):
    log = tmp_path / "server.log"
    with ServerProcess(tmp_path / "data", "--http-port", "0", "--metrics-port", "0", "--log-format", "json",
                       log=log) as running:
        yield running, log


def test_metrics_move_with_a_labeling_session_and_every_call_is_logged(server) -> None:
    server, log = server
    with server.client() as client:
        client.create_project("p", DIM, label_budget=30)
        vectors = np.random.default_rng(0).normal(size=(N, DIM)).astype(np.float32)
        client.add_items("p", [f"i{n}" for n in range(N)], vectors)
        before = scrape(server)
        assert value(before, "knn_al_project_pool_size", project="p") == N
        assert value(before, "knn_al_project_labeled", project="p") == 0
        assert value(before, "knn_al_project_budget_left", project="p") == 30
        picks = client.next_sample("p", 3, annotator="ana")
        for pick in picks[:2]:
            client.submit_label("p", pick.id, "a", annotator="ana")
        client.submit_labels("p", {picks[2].id: "b", "i39": "b"}, annotator="ana")
        with pytest.raises(ServiceError):
            client.submit_label("p", "no-such-item", "a", annotator="ana")
    assert http(server, "POST", "/projects/p/labels", {"labels": {"i38": "a", "i37": "b", "i36": "a"},
                                                      "annotator": "bo"}) == 200
    assert http(server, "POST", "/projects/p/labels", {"labels": {"i35": 1}, "annotator": "bo"}) == 400

    after = scrape(server)
    grpc_ok = {"transport": "grpc", "status": "OK"}
    assert value(after, "knn_al_calls_total", method="SubmitLabel", **grpc_ok) == 2
    assert value(after, "knn_al_calls_total", method="SubmitLabels", **grpc_ok) == 1
    assert value(after, "knn_al_calls_total", method="NextSample", **grpc_ok) == 1
    assert value(after, "knn_al_calls_total", transport="grpc", method="SubmitLabel", status="NOT_FOUND") == 1
    assert value(after, "knn_al_calls_total", transport="http", method="submitLabels", status="200") == 1
    assert value(after, "knn_al_calls_total", transport="http", method="submitLabels", status="400") == 1
    assert value(after, "knn_al_labels_total", project="p", annotator="ana") == 4
    assert value(after, "knn_al_labels_total", project="p", annotator="bo") == 3
    assert value(after, "knn_al_call_duration_seconds_count", transport="grpc", method="SubmitLabel") == 3
    assert value(after, "knn_al_project_labeled", project="p") == 7
    assert value(after, "knn_al_project_budget_left", project="p") == 30 - 7
    low, high = (value(after, f"knn_al_project_accuracy_estimate_{end}", project="p") for end in ("low", "high"))
    assert 0 <= low <= high <= 1 and high > 0
    assert 0 < value(after, "knn_al_project_mean_uncertainty", project="p") <= 1

    server.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "knn_al.access"]
    labels = [(a["transport"], a["method"], a["project"], a["annotator"], a["status"]) for a in access
              if a["method"] in ("SubmitLabel", "submitLabels")]
    assert labels == [("grpc", "SubmitLabel", "p", "ana", "OK")] * 2 + [
        ("grpc", "SubmitLabel", "p", "ana", "NOT_FOUND"), ("http", "submitLabels", "p", "bo", "200"),
        ("http", "submitLabels", "p", "", "400")]  # a body refused as a whole names no annotator
    assert all(isinstance(a["ms"], float) and a["ms"] >= 0 for a in access)
    assert {"CreateProject", "AddItems", "NextSample", "SubmitLabels"} <= {a["method"] for a in access}
