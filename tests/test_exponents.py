"""The combined strategy's exponents per project and per NextSample (issue 15), through a
real ``knn-al serve``: over gRPC and HTTP, kept in settings.json across a restart, the
same picks as an in-process learner with those exponents, and bad ones refused with
nothing changed."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knn_al.client import Client, ServiceError
from knn_al.learner import Learner
from knn_al.simulation.server_process import ServerProcess

#: Diversity only: after the first label, the item farthest from every labeled one.
FAR = (0.0, 0.0, 1.0)


def pool(seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Clustered unit vectors of mixed density, so each term ranks items differently."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, 8))
    x = centres[rng.integers(0, 6, 240)] + rng.uniform(0.2, 1.0, (240, 1)) * rng.normal(size=(240, 8))
    return [f"i{j:03d}" for j in range(240)], x.astype(np.float32)


def in_process(ids: list[str], x: np.ndarray, labels: dict[str, str], exponents: tuple[float, ...]) -> list[str]:
    learner = Learner(dimension=x.shape[1])
    learner.add_items(ids, x)
    learner.label(list(labels), list(labels.values()))
    return [p.id for p in learner.select(5, exponents=exponents, seed=7)]  # type: ignore[arg-type]


def http(server: ServerProcess, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(f"{server.http_url}/api/v1{path}", method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_exponents_per_project_and_per_pick_over_grpc_and_http(serve: Callable[..., ServerProcess],
                                                                tmp_path: Path) -> None:
    ids, x = pool()
    labels = {ids[j]: f"c{j % 3}" for j in (0, 1, 2, 40, 80)}
    server = serve(tmp_path / "data", "--http-port", "0")
    with Client(server.address) as client:
        for name, exponents in (("plain", ()), ("far", FAR)):
            info = client.create_project(name, 8, exponents=exponents)
            client.add_items(name, ids, x)
            client.submit_labels(name, labels)
        assert client.get_project("plain").exponents == [1.0, 1.0, 1.0]
        assert client.get_project("far").exponents == list(FAR)

        def picks(name: str, **options: Any) -> list[str]:
            return [s.id for s in client.next_sample(name, 5, seed=7, preview=True, **options)]

        plain, far = picks("plain"), picks("far")
        assert plain == in_process(ids, x, labels, (1.0, 1.0, 1.0))
        assert far == in_process(ids, x, labels, FAR) and far != plain  # the project's exponents apply
        assert picks("far", exponents=(1, 1, 1)) == plain and picks("plain", exponents=FAR) == far  # a pick's own

        # Bad exponents: refused, with the rule, and nothing created or leased.
        for bad in ((1.0, -1.0, 0.0), (1.0, 2.0), (1.0, float("nan"), 1.0)):
            with pytest.raises(ServiceError, match="exponents must be three finite numbers ≥ 0") as refused:
                client.create_project("bad", 8, exponents=bad)
            assert refused.value.code.name == "INVALID_ARGUMENT"
            with pytest.raises(ServiceError, match="exponents must be three finite numbers ≥ 0"):
                client.next_sample("far", 1, exponents=bad)
        assert sorted(p.name for p in client.list_projects()) == ["far", "plain"]
        assert client.get_project("far").leased_count == 0
    assert json.loads((tmp_path / "data" / "far" / "settings.json").read_text())["exponents"] == list(FAR)

    server.restart()
    with Client(server.address) as client:
        assert client.get_project("far").exponents == list(FAR)
        assert [s.id for s in client.next_sample("far", 5, seed=7, preview=True)] == far

    # HTTP: the same setting at creation, and a pick's own.
    status, created = http(server, "/projects", {"name": "web", "dimension": 8, "exponents": list(FAR)})
    assert status == 201 and created["settings"]["exponents"] == list(FAR)
    with Client(server.address) as client:
        client.add_items("web", ids, x)
        client.submit_labels("web", labels)
    status, reply = http(server, "/projects/web/next", {"count": 5, "seed": 7, "preview": True})
    assert status == 200 and [s["id"] for s in reply["samples"]] == far
    status, reply = http(server, "/projects/web/next", {"count": 5, "seed": 7, "preview": True,
                                                         "exponents": [1, 1, 1]})
    assert status == 200 and [s["id"] for s in reply["samples"]] == plain
    status, reply = http(server, "/projects/web/next", {"count": 1, "exponents": [1, -2, 1]})
    assert status == 400 and "exponents must be three finite numbers ≥ 0" in reply["error"]["message"]
    status, reply = http(server, "/projects", {"name": "web2", "dimension": 8, "exponents": [1, 1]})
    assert status == 400 and "exponents must be three finite numbers ≥ 0" in reply["error"]["message"]
