"""A preview of NextSample: knn-al's pick order for a tool that orders its own queue (the
Label Studio bridge scores tasks by it). It must give exactly the picks, in the order, that
the real NextSample with the same seed gives next, and change nothing: no lease, no log row,
the budget still capping the count. In-process on real files, then over gRPC and HTTP."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from knn_al.client import Client
from tests.http_helpers import P, live, seed  # noqa: F401  (live is a fixture)
from tests.items_helpers import everything, lease_rows, new_project

if TYPE_CHECKING:
    from tests.conftest import FakeClock


def test_a_preview_is_the_next_real_pick_and_changes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, _, _ = new_project(tmp_path, clock, n=60, duplicate_threshold=1.0)
    project.label(ids[:4], ["a", "b", "a", "b"], annotator="ann")
    (held,) = [s.id for s in project.next_sample(1, annotator="bob", seed=1)]
    before = everything(project)
    preview = project.next_sample(8, annotator="ann", seed=7, preview=True)
    assert everything(project) == before  # no lease, no log row, no state
    assert project.next_sample(8, annotator="ann", seed=7, preview=True) == preview  # and so repeatable
    assert all(s.lease_expires_at == 0 for s in preview) and held not in {s.id for s in preview}
    real = project.next_sample(8, annotator="ann", seed=7)
    assert [s.id for s in preview] == [s.id for s in real]
    assert [(s.predicted_label, s.probabilities, s.pick) for s in preview] == [
        (s.predicted_label, s.probabilities, s.pick) for s in real]
    assert {row[0] for row in lease_rows(project.path)} == {held, *(s.id for s in real)}


def test_the_budget_caps_a_preview(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, _, _ = new_project(tmp_path, clock, n=60, label_budget=6)
    project.label(ids[:2], ["a", "b"])
    project.next_sample(1, annotator="bob")  # a lease counts against the budget too
    assert len(project.next_sample(10, seed=3, preview=True)) == 3
    project.next_sample(3, annotator="bob")
    assert project.next_sample(10, seed=3, preview=True) == []


def _previewed_then_picked(next_ids: Any, leased: Any) -> None:
    """``next_ids(preview)`` previews, then picks for real with the same seed; ``leased()``
    lists the leased items."""
    preview = next_ids(True)
    assert len(preview) == 5 and leased() == []
    assert next_ids(True) == preview
    assert next_ids(False) == preview
    assert sorted(leased()) == sorted(preview)


def test_a_preview_over_grpc(tmp_path: Path, live: Any) -> None:  # noqa: F811
    seed(tmp_path / "data", n=40)
    server = live()
    client: Client = server.client()
    _previewed_then_picked(
        lambda preview: [s.id for s in client.next_sample("p", 5, annotator="ana", seed=11, preview=preview)],
        lambda: [i.id for i in client.list_items("p", state="leased").items])


def test_a_preview_over_http(tmp_path: Path, live: Any) -> None:  # noqa: F811
    seed(tmp_path / "data", n=40, label_budget=3)
    server = live()
    body = {"count": 10, "annotator": "ana", "seed": 11, "preview": True}
    previewed = server.ok("POST", f"{P}/p/next", body)["samples"]
    assert len(previewed) == 3 and all(s["lease_expires_at"] == 0 for s in previewed)  # the budget caps it
    assert server.ok("GET", f"{P}/p/items", query={"state": "leased"})["items"] == []
    picked = server.ok("POST", f"{P}/p/next", {**body, "preview": False})["samples"]
    assert [s["id"] for s in picked] == [s["id"] for s in previewed]
    assert server.ok("POST", f"{P}/p/next", body)["samples"] == []  # the budget is all leased now
