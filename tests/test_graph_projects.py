"""Projects with the graph model (issue 15), through a real ``knn-al serve``: the setting
travels over gRPC and HTTP, is kept in settings.json, survives a restart, and the project
predicts by propagation (ProjectInfo.active_model says which model predicts)."""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from knn_al.client import Client, ServiceError
from knn_al.simulation.server_process import ServerProcess
from tests.test_graph_model import rings


def test_a_graph_project_propagates_and_keeps_its_model_across_a_restart(
        serve: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = serve(tmp_path / "data", "--http-port", "0")
    x, which = rings()
    ids = [f"i{j}" for j in range(len(x))]
    chosen = [0, 50, 100, 175, 225, 275]  # ring 0 at 0/120/240°, ring 1 at 60/180/300°
    with Client(server.address) as client:
        for model in ("knn", "graph"):
            info = client.create_project(model, 3, model=model, duplicate_threshold=1.0)
            assert (info.model, info.active_model) == (model, model)
            client.add_items(model, ids, x)
            client.submit_labels(model, {ids[j]: f"c{which[j]}" for j in chosen})
        truth = np.array([f"c{w}" for w in which])
        accuracy = {m: (np.array([p.label for p in client.predict(m, ids=ids)]) == truth).mean()
                    for m in ("knn", "graph")}
        assert accuracy["graph"] == 1.0 and accuracy["knn"] < 1.0  # the rings need propagation
        before = [p.probabilities for p in client.predict("graph", ids=ids)]
        with pytest.raises(ServiceError, match="model must be one of knn"):
            client.create_project("forest", 3, model="forest")
    assert json.loads((tmp_path / "data" / "graph" / "settings.json").read_text())["model"] == "graph"

    server.restart()
    with Client(server.address) as client:
        info = client.get_project("graph")
        assert (info.model, info.active_model) == ("graph", "graph")
        after = [p.probabilities for p in client.predict("graph", ids=ids)]
        assert all(abs(a[c] - b[c]) < 1e-6 for a, b in zip(after, before) for c in a)
    # HTTP: the same setting, and which model predicts.
    request = urllib.request.Request(f"{server.http_url}/api/v1/projects", method="POST",
                                     data=json.dumps({"name": "auto", "dimension": 3, "model": "auto"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        created = json.loads(reply.read())
    assert created["settings"]["model"] == "auto" and created["active_model"] == "graph"
    with Client(server.address) as client:  # the progress of every stats call and NextSample names it too
        client.add_items("auto", ids, x)
        assert client.stats("auto").progress.active_model == "graph"
        assert client.stats("knn").progress.active_model == "knn"
