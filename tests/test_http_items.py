"""The HTTP/JSON API's item operations (issue 13 §1) against a real server started with
``start_server``: skip, lease, renew, undo, list, get, add with a conflict policy, remove,
edit metadata, search, explain, texts kept raw, and the review lists.

Every JSON reply is checked against the server's own OpenAPI document (tests/http_helpers.py).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from knn_al.projects.settings import ProjectSettings
from knn_al.projects.store import ProjectStore
from knn_al.simulation.synthetic import clustered_vectors
# live: a fixture, which pytest finds by its import here
from tests.http_helpers import D, P, LiveServer, grpc_message, live, seed


# ------------------------------------------------------------------- items
def test_skip_unskip_and_renew(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 10)
    server = live()
    leased = [s["id"] for s in server.ok("POST", f"{P}/p/next", {"count": 2, "annotator": "ana"})["samples"]]
    old = server.ok("POST", f"{P}/p/items/get", {"ids": leased})["items"][0]["lease_expires_at"]
    renewed = server.ok("POST", f"{P}/p/renew", {"ids": leased, "annotator": "ana", "lease_seconds": 5000})
    assert renewed["lease_expires_at"] > old + 4000
    refused = server.call("POST", f"{P}/p/renew", {"ids": leased, "annotator": "bo"})
    with server.client(retries=0) as client:
        assert (refused.status, refused.error) == (412, grpc_message(
            lambda: client.renew("p", leased, annotator="bo")))
    skipped = server.ok("POST", f"{P}/p/skip", {"ids": [leased[0]], "annotator": "ana"})
    assert skipped["skipped"] == 1 and "progress" in skipped
    assert server.ok("GET", f"{P}/p/stats")["skipped"] == 1
    listed = server.ok("GET", f"{P}/p/items", query={"state": "skipped"})["items"]
    assert [i["id"] for i in listed] == [leased[0]] and listed[0]["state"] == "skipped"
    rest = server.ok("POST", f"{P}/p/next", {"count": 10, "annotator": "bo"})["samples"]
    assert leased[0] not in {s["id"] for s in rest} and len(rest) == 8  # neither skipped nor leased
    assert server.ok("GET", f"{P}/p/export")["records"] == [  # exported as skipped, without predictions too
        {"id": leased[0], "label": "", "source": "skipped", "confidence": 0, "metadata": {"n": ids.index(leased[0])},
         "annotator": "", "labeled_at": 0}]
    again = server.call("POST", f"{P}/p/unskip", {"ids": [ids[5] if ids[5] != leased[0] else ids[6]]})
    assert again.status == 412 and again.error[0] == "FAILED_PRECONDITION"
    assert server.ok("POST", f"{P}/p/unskip", {"ids": [leased[0]]}) == {"unskipped": 1}
    assert server.ok("GET", f"{P}/p/export")["records"] == []  # no longer skipped


def test_lease_holds_chosen_items_and_refuses_others_leases(tmp_path: Path,
                                                            live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 10)
    server = live()
    deadline = server.ok("POST", f"{P}/p/lease", {"ids": ids[:2], "annotator": "ana",
                                                  "lease_seconds": 5000})["lease_expires_at"]
    assert deadline > time.time() + 4000  # 5000 s, not the project's 600
    items = server.ok("POST", f"{P}/p/items/get", {"ids": ids[:2]})["items"]
    assert [(i["state"], i["lease_annotator"], i["lease_expires_at"]) for i in items] == [
        ("leased", "ana", deadline)] * 2
    rest = server.ok("POST", f"{P}/p/next", {"count": 10, "annotator": "bo", "include_outliers": True})["samples"]
    assert sorted(s["id"] for s in rest) == sorted(ids[2:])  # not ana's
    refused = server.call("POST", f"{P}/p/lease", {"ids": ids[:1], "annotator": "bo"})
    with server.client(retries=0) as client:
        assert (refused.status, refused.error) == (412, grpc_message(
            lambda: client.lease("p", ids[:1], annotator="bo")))


def test_undo_takes_a_label_back_leased_to_the_annotator_unless_someone_relabeled_it(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 10)
    server = live()
    server.ok("POST", f"{P}/p/labels", {"labels": {ids[0]: "a", ids[1]: "b"}, "annotator": "ana"})
    undone = server.ok("POST", f"{P}/p/labels/undo", {"id": ids[0], "label": "a", "annotator": "ana",
                                                      "lease_seconds": 5000})
    assert undone["lease_expires_at"] > time.time() + 4000 and undone["labeled_count"] == 1
    assert undone["progress"]["estimate"]["labeled"] == 1
    (item,) = server.ok("POST", f"{P}/p/items/get", {"ids": [ids[0]]})["items"]
    assert (item["state"], item["label"], item["lease_annotator"]) == ("leased", "", "ana")

    server.ok("POST", f"{P}/p/labels", {"labels": {ids[1]: "c"}, "annotator": "bo"})  # bo's correction
    refused = server.call("POST", f"{P}/p/labels/undo", {"id": ids[1], "label": "b", "annotator": "ana"})
    with server.client(retries=0) as client:
        assert (refused.status, refused.error) == (412, grpc_message(
            lambda: client.undo_label("p", ids[1], label="b", annotator="ana")))
        assert client.export_labels("p") == {ids[1]: "c"}
    assert "labeled 'c' by 'bo', not labeled 'b'" in refused.error[1]


def test_items_are_listed_page_by_page_and_got_by_id(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 25)
    server = live()
    server.ok("POST", f"{P}/p/labels", {"labels": {ids[3]: "a"}, "annotator": "ana"})
    seen, token = [], ""
    while True:
        page = server.ok("GET", f"{P}/p/items", query={"page_size": 10, "page_token": token})
        seen += page["items"]
        token = page["next_page_token"]
        if not token:
            break
    assert [i["id"] for i in seen] == ids
    labeled = server.ok("GET", f"{P}/p/items", query={"state": "labeled"})["items"]
    assert [(i["id"], i["label"], i["annotator"], i["state"]) for i in labeled] == [(ids[3], "a", "ana", "labeled")]
    one = server.ok("GET", f"{P}/p/items/{ids[4]}")
    assert one["id"] == ids[4] and one["metadata"] == {"n": 4} and one["predicted_label"] == "a"
    assert one["media"] is None
    assert server.ok("POST", f"{P}/p/items/get", {"ids": [ids[4]]})["items"] == [one]
    unknown = server.call("GET", f"{P}/p/items/ghost")
    with server.client(retries=0) as client:
        assert (unknown.status, unknown.error) == (404, grpc_message(lambda: client.items("p", ["ghost"])))
    bad = server.call("GET", f"{P}/p/items", query={"page_token": "garbage"})
    assert bad.status == 400


def test_add_items_with_a_conflict_policy_remove_them_and_edit_metadata(
        tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    server = live()
    server.ok("POST", P, {"name": "p", "dimension": 3})
    vectors = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    added = server.ok("POST", f"{P}/p/items", {"ids": ["a/1", "b 2"], "vectors": vectors,
                                               "metadata": [{"t": "one"}, {"t": "two"}]})
    assert added == {"added": 2, "skipped": 0, "replaced": 0, "pool_size": 2}
    clash = server.call("POST", f"{P}/p/items", {"ids": ["a/1"], "vectors": [[0.0, 0.0, 1.0]]})
    with server.client(retries=0) as client:
        assert (clash.status, clash.error) == (409, grpc_message(
            lambda: client.add_items("p", ["a/1"], np.array([[0.0, 0.0, 1.0]], np.float32))))
    skip = server.ok("POST", f"{P}/p/items", {"ids": ["a/1", "c"], "vectors": [[0, 0, 1], [1, 1, 0]],
                                              "on_conflict": "skip"})
    assert (skip["added"], skip["skipped"], skip["pool_size"]) == (1, 1, 3)
    replace = server.ok("POST", f"{P}/p/items", {"ids": ["a/1"], "vectors": [[0, 0, 1]], "on_conflict": "replace",
                                                 "metadata": [{"t": "new"}]})
    assert (replace["replaced"], replace["pool_size"]) == (1, 3)
    # Ids with a slash, a space: URL-encoded in the path.
    assert server.ok("GET", f"{P}/p/items/a%2F1")["metadata"] == {"t": "new"}
    assert server.ok("GET", f"{P}/p/items/b%202")["metadata"] == {"t": "two"}
    assert server.ok("POST", f"{P}/p/items/metadata", {"metadata": {"b 2": {"t": "edited"}}}) == {"updated": 1}
    with server.client() as client:
        assert client.items("p", ["b 2"])[0].metadata == {"t": "edited"}
    assert server.ok("POST", f"{P}/p/items/remove", {"ids": ["c"]}) == {"removed": 1, "pool_size": 2}
    assert server.call("GET", f"{P}/p/items/c").status == 404
    wrong = server.call("POST", f"{P}/p/items", {"ids": ["x"], "vectors": [[1.0, 2.0]]})
    assert wrong.status == 400 and "dimension" in wrong.error[1]
    ragged = server.call("POST", f"{P}/p/items", {"ids": ["x", "y"], "vectors": [[1.0, 2.0, 3.0], [1.0]]})
    assert ragged.status == 400 and "equal-length" in ragged.error[1]
    texts = server.call("POST", f"{P}/p/items", {"ids": ["x"], "texts": ["hello"]})
    assert texts.status == 412 and "has no encoder" in texts.error[1]


def test_search_finds_neighbours_by_id_and_vector(tmp_path: Path, live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 30)
    _, x, _ = clustered_vectors(30, D, clusters=4)
    server = live()
    by_id = server.ok("POST", f"{P}/p/search", {"id": ids[0], "limit": 5})["hits"]
    assert len(by_id) == 5 and ids[0] not in {h["id"] for h in by_id}
    assert by_id == sorted(by_id, key=lambda h: -h["similarity"])
    by_vector = server.ok("POST", f"{P}/p/search", {"vector": x[0].tolist(), "limit": 6})["hits"]
    assert by_vector[0]["id"] == ids[0] and [h["id"] for h in by_vector[1:]] == [h["id"] for h in by_id]
    server.ok("POST", f"{P}/p/labels", {"labels": {by_id[0]["id"]: "a"}})
    unlabeled = server.ok("POST", f"{P}/p/search", {"id": ids[0], "limit": 5, "unlabeled_only": True})["hits"]
    assert by_id[0]["id"] not in {h["id"] for h in unlabeled} and all(h["state"] == "unlabeled" for h in unlabeled)
    assert by_id[1]["metadata"] == {"n": ids.index(by_id[1]["id"])}
    both = server.call("POST", f"{P}/p/search", {"id": ids[0], "vector": x[0].tolist()})
    assert both.status == 400 and "exactly one of id, vector, text" in both.error[1]


def test_explain_lists_the_labeled_neighbours_with_their_metadata(tmp_path: Path,
                                                                 live: Callable[..., LiveServer]) -> None:
    ids = seed(tmp_path / "data", 30, metadata=[{"text": f"item {i}"} for i in range(30)])
    server = live()
    server.ok("POST", f"{P}/p/labels", {"labels": {ids[0]: "a", ids[1]: "b", ids[2]: "a"}, "annotator": "ana"})
    picked = server.ok("POST", f"{P}/p/next", {"count": 2, "explain": True, "annotator": "bo"})["samples"]
    predicted = server.ok("POST", f"{P}/p/predict", {"ids": [s["id"] for s in picked], "explain": True})
    for sample, prediction in zip(picked, predicted["predictions"]):
        assert sample["neighbors"] == prediction["neighbors"] and len(sample["neighbors"]) == 3
        for neighbor in sample["neighbors"]:
            assert neighbor["metadata"] == {"text": f"item {ids.index(neighbor['id'])}"}
            assert neighbor["label"] == {ids[0]: "a", ids[1]: "b", ids[2]: "a"}[neighbor["id"]]


def test_a_text_project_keeps_its_raw_texts_and_searches_and_predicts_by_text(
        live: Callable[..., LiveServer]) -> None:
    server = live()
    created = server.ok("POST", P, {"name": "t", "encoder": "use-multilingual", "keep_raw": True})
    assert created["settings"]["keep_raw"] is True and created["settings"]["dimension"] == 512
    texts = {"cat": "the cat sat on the mat and purred", "dog": "the dog barked at the postman",
             "stocks": "stock markets fell sharply after the report", "rates": "the central bank raised interest rates"}
    assert server.ok("POST", f"{P}/t/items", {"ids": list(texts), "texts": list(texts.values())})["added"] == 4
    item = server.ok("GET", f"{P}/t/items/cat")
    assert item["media"] == "/api/v1/projects/t/items/cat/media"
    media = server.call("GET", item["media"])
    assert media.status == 200 and media.body == texts["cat"].encode()
    assert media.headers["Content-Type"] == "text/plain; charset=utf-8"
    hits = server.ok("POST", f"{P}/t/search", {"text": "inflation and the economy", "limit": 2})["hits"]
    assert {h["id"] for h in hits} == {"stocks", "rates"}
    server.ok("POST", f"{P}/t/labels", {"labels": {"cat": "animals", "stocks": "finance"}})
    predicted = server.ok("POST", f"{P}/t/predict", {"texts": ["a kitten chased a mouse"]})["predictions"]
    assert predicted[0]["label"] == "animals"
    vectors = server.call("POST", f"{P}/t/items", {"ids": ["x"], "texts": ["a"], "vectors": [[1.0] * 512]})
    assert vectors.status == 400 and "exactly one of vectors or texts" in vectors.error[1]


# --------------------------------------------------------------------- review
def test_review_lists_outliers_duplicates_suspicious_and_recent_labels(tmp_path: Path,
                                                                      live: Callable[..., LiveServer]) -> None:
    ids, x, cluster = clustered_vectors(40, D, clusters=2, seed=3)
    x[1] = x[0]  # an exact duplicate
    store = ProjectStore(tmp_path / "data")
    try:
        settings = ProjectSettings(name="p", dimension=D, outlier_quantile=0.05, duplicate_threshold=0.9999)
        store.create(settings).add_items(ids, x, [{"n": i} for i in range(40)])
    finally:
        store.close()
    server = live()
    outliers = server.ok("GET", f"{P}/p/outliers", query={"limit": 10})["outliers"]
    assert outliers and all(o["metadata"] == {"n": ids.index(o["id"])} for o in outliers)
    groups = server.ok("GET", f"{P}/p/duplicates")["groups"]
    assert [sorted(g["ids"]) for g in groups] == [[ids[0], ids[1]]]
    assert groups[0]["metadata"] == [{"n": ids.index(i)} for i in groups[0]["ids"]]
    same = [i for i, c in zip(ids, cluster) if c == cluster[5]][:6]
    labels = {i: "a" for i in same}
    labels[same[0]] = "b"  # a mistake among its own cluster
    server.ok("POST", f"{P}/p/labels", {"labels": labels, "annotator": "ana"})
    server.ok("POST", f"{P}/p/labels", {"labels": {same[1]: "a"}, "annotator": "bo"})
    suspicious = server.ok("GET", f"{P}/p/suspicious")["items"]
    assert suspicious[0]["id"] == same[0] and suspicious[0]["predicted_label"] == "a"
    assert suspicious[0]["annotator"] == "ana" and suspicious[0]["metadata"] == {"n": ids.index(same[0])}
    recent = server.ok("GET", f"{P}/p/recent", query={"limit": 3})["labels"]
    assert recent[0]["id"] == same[1] and recent[0]["annotator"] == "bo" and len(recent) == 3
    only_bo = server.ok("GET", f"{P}/p/recent", query={"annotator": "bo"})["labels"]
    assert [(r["id"], r["label"]) for r in only_bo] == [(same[1], "a")]
