"""Issue 13 §2 over gRPC: item operations (skip, unskip, lease renewal, leases of chosen
items, get and list items, search, remove items, new metadata), the review listings,
AddItems and `knn-al load` with a conflict policy, and projects that keep their raw items.
Real `knn-al serve` processes on loopback, driven through the Client (and the raw stub for
request ids and odd requests)."""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from knn_al.cli import main
from knn_al.client import Client, ServiceError
from knn_al.dataset import write_dataset
from knn_al.errors import InvalidInputError
from knn_al.projects.store import ProjectStore
from knn_al.simulation.server_process import ServerProcess
from knn_al.simulation.synthetic import clustered_vectors
from knn_al.v1 import active_learning_pb2 as pb
from knn_al.v1 import active_learning_pb2_grpc as pb_grpc
from knn_al.v1.codec import vectors_to_proto

Code = grpc.StatusCode
DIM = 16
#: NextSample options under which every free item is a candidate (outliers too).
EVERY = {"strategy": "random", "include_outliers": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Datasets written under pytest's temporary directory are inside the server's roots.
    running = ServerProcess(tmp_path_factory.mktemp("items") / "data", "--dataset-root",
                            str(tmp_path_factory.getbasetemp()))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[pb_grpc.ActiveLearningStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield pb_grpc.ActiveLearningStub(channel)


def _pool(client: Client, name: str, n: int = 40, **settings) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A project of ``n`` clustered items with metadata {"n": row}: (ids, vectors, cluster).
    Only identical vectors are duplicates unless ``settings`` say otherwise, so that every
    item is handed out on its own."""
    ids, x, cluster = clustered_vectors(n, DIM, clusters=4, seed=len(name))
    client.create_project(name, DIM, **{"duplicate_threshold": 1.0, **settings})
    client.add_items(name, ids, x, [{"n": i} for i in range(n)])
    return ids, x, cluster


def _refused(call: Callable[[], object]) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value


def _rpc_refused(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


# ------------------------------------------------------------------ skipping
def test_skipped_items_are_not_handed_out_listed_counted_exported_then_unskipped(client: Client) -> None:
    ids, _, _ = _pool(client, "skips", 12)
    held = [s.id for s in client.next_sample("skips", 2, annotator="ann", **EVERY)]
    assert client.skip("skips", held, annotator="ann") == 2
    assert client.get_project("skips").leased_count == 0  # skipping ended the leases
    assert client.skip("skips", held[:1]) == 1  # skipping a skipped item changes nothing
    assert client.stats("skips").skipped == 2
    assert {i.id: i.state for i in client.items("skips", held)} == {held[0]: "skipped", held[1]: "skipped"}
    assert {i.id for i in client.list_items("skips", state="skipped").items} == set(held)

    handed = [s.id for s in client.next_sample("skips", 20, annotator="other", **EVERY)]
    assert sorted(handed) == sorted(set(ids) - set(held))
    exported = {r.id: (r.source, r.label, r.confidence) for r in client.export("skips")}
    assert exported == {held[0]: ("skipped", "", 0.0), held[1]: ("skipped", "", 0.0)}

    assert client.unskip("skips", held) == 2
    assert client.stats("skips").skipped == 0
    client.release("skips", handed, annotator="other")
    assert set(held) <= {s.id for s in client.next_sample("skips", 12, **EVERY)}


def test_skip_and_unskip_refusals_change_nothing(client: Client) -> None:
    ids, _, _ = _pool(client, "skip-refusals", 8)
    client.submit_label("skip-refusals", ids[0], "a")
    refusal = _refused(lambda: client.skip("skip-refusals", [ids[1], ids[0]]))
    assert refusal.code == Code.FAILED_PRECONDITION and "remove its label first" in refusal.message
    refusal = _refused(lambda: client.skip("skip-refusals", [ids[1], "nope"]))
    assert refusal.code == Code.NOT_FOUND and "nope" in refusal.message
    assert client.stats("skip-refusals").skipped == 0  # ids[1], valid, was not skipped either
    refusal = _refused(lambda: client.unskip("skip-refusals", [ids[2]]))
    assert refusal.code == Code.FAILED_PRECONDITION and ids[2] in refusal.message


def test_a_repeated_unskip_request_is_answered_once(client: Client, stub: pb_grpc.ActiveLearningStub) -> None:
    ids, _, _ = _pool(client, "replay-unskip", 8)
    client.skip("replay-unskip", ids[:2])
    request = pb.UnskipItemsRequest(project="replay-unskip", ids=ids[:2], request_id="unskip-1")
    first = stub.UnskipItems(request, timeout=30)
    second = stub.UnskipItems(request, timeout=30)  # done again: FAILED_PRECONDITION, nothing is skipped
    assert first.unskipped == second.unskipped == 2


# -------------------------------------------------------------------- leases
def test_renew_extends_the_holders_leases_only(client: Client, stub: pb_grpc.ActiveLearningStub) -> None:
    _pool(client, "renew", 8)
    held = [s.id for s in client.next_sample("renew", 2, annotator="ann", lease_seconds=30, **EVERY)]
    before = time.time()
    deadline = client.renew("renew", held, annotator="ann", lease_seconds=500)
    assert before + 499 <= deadline <= time.time() + 501
    assert [i.lease_expires_at for i in client.items("renew", held)] == [deadline, deadline]
    assert {i.lease_annotator for i in client.items("renew", held)} == {"ann"}

    refusal = _refused(lambda: client.renew("renew", held, annotator="bob"))
    assert refusal.code == Code.FAILED_PRECONDITION
    free = next(i.id for i in client.list_items("renew", state="unlabeled").items)
    assert _refused(lambda: client.renew("renew", [free], annotator="ann")).code == Code.FAILED_PRECONDITION
    assert [i.lease_expires_at for i in client.items("renew", held)] == [deadline, deadline]

    # A retried renewal answers with its first deadline instead of renewing again.
    request = pb.RenewLeasesRequest(project="renew", ids=held, annotator="ann", lease_seconds=400,
                                    request_id="renew-1")
    first = stub.RenewLeases(request, timeout=30)
    time.sleep(0.05)
    assert stub.RenewLeases(request, timeout=30).lease_expires_at == first.lease_expires_at


def test_lease_items_holds_chosen_items_for_the_annotator(client: Client, stub: pb_grpc.ActiveLearningStub) -> None:
    ids, _, _ = _pool(client, "lease", 8)
    before = time.time()
    deadline = client.lease("lease", ids[:2], annotator="ann", lease_seconds=500)
    assert before + 499 <= deadline <= time.time() + 501
    assert [(i.state, i.lease_annotator, i.lease_expires_at) for i in client.items("lease", ids[:2])] == [
        ("leased", "ann", deadline)] * 2
    # Nobody else is handed them; the annotator's own lease is renewed.
    handed = [s.id for s in client.next_sample("lease", 8, annotator="bob", **EVERY)]
    assert sorted(handed) == sorted(ids[2:])
    assert client.lease("lease", ids[:1], annotator="ann", lease_seconds=900) > deadline + 300

    # A retried lease answers with its first deadline instead of leasing again.
    request = pb.LeaseItemsRequest(project="lease", ids=ids[:2], annotator="ann", lease_seconds=400,
                                   request_id="lease-1")
    first = stub.LeaseItems(request, timeout=30)
    time.sleep(0.05)
    assert stub.LeaseItems(request, timeout=30).lease_expires_at == first.lease_expires_at
    assert [i.lease_expires_at for i in client.items("lease", ids[:2])] == [first.lease_expires_at] * 2


def test_lease_items_refusals_name_the_item_and_change_nothing(client: Client) -> None:
    ids, _, _ = _pool(client, "lease-refusals", 8, label_budget=3)
    client.submit_label("lease-refusals", ids[0], "a")
    client.skip("lease-refusals", [ids[1]])
    held = client.next_sample("lease-refusals", 1, annotator="bob", **EVERY)[0].id
    free = [i for i in ids[2:] if i != held]
    cases = [([free[0], ids[0]], Code.FAILED_PRECONDITION, f"item {ids[0]!r} is labeled: remove its label first"),
             ([free[0], ids[1]], Code.FAILED_PRECONDITION, f"item {ids[1]!r} is skipped: unskip it first"),
             ([free[0], held], Code.FAILED_PRECONDITION, f"item {held!r} is leased to 'bob', not to 'ann'"),
             ([free[0], "nope"], Code.NOT_FOUND, "'nope'"),
             # 3 - 1 labeled - 1 leased to bob: one left
             (free[:2], Code.FAILED_PRECONDITION, "the label budget is spent: 2 items to lease but 1 labels left")]
    for asked, code, message in cases:
        refusal = _refused(lambda: client.lease("lease-refusals", asked, annotator="ann"))
        assert (refusal.code, message in refusal.message) == (code, True), (asked, refusal.message)
    assert [i.id for i in client.list_items("lease-refusals", state="leased").items] == [held]
    assert client.lease("lease-refusals", free[:1], annotator="ann") > time.time()  # within the budget


def test_undo_label_takes_the_label_back_and_leases_the_item_to_the_annotator(
        client: Client, stub: pb_grpc.ActiveLearningStub) -> None:
    ids, _, _ = _pool(client, "undo", 8, label_budget=2)
    client.submit_labels("undo", {ids[0]: "a", ids[1]: "b"}, annotator="ann")
    before = time.time()
    deadline = client.undo_label("undo", ids[1], label="b", annotator="ann", lease_seconds=500)
    assert before + 499 <= deadline <= time.time() + 501
    assert [(i.state, i.label, i.lease_annotator) for i in client.items("undo", ids[:2])] == [
        ("labeled", "a", ""), ("leased", "", "ann")]
    assert client.next_sample("undo", 8, annotator="bob", **EVERY) == []  # the budget: 1 label + 1 lease

    # A retried undo answers with its first reply instead of being refused (nothing to undo now).
    request = pb.UndoLabelRequest(project="undo", id=ids[0], label="a", annotator="ann", request_id="undo-1")
    first = stub.UndoLabel(request, timeout=30)
    assert first.labeled_count == 0 and stub.UndoLabel(request, timeout=30) == first


def test_undo_label_refusals_name_the_item_and_change_nothing(client: Client) -> None:
    ids, _, _ = _pool(client, "undo-refusals", 8)
    client.submit_label("undo-refusals", ids[0], "a", annotator="ann")
    client.submit_label("undo-refusals", ids[0], "b", annotator="bob")  # bob's correction
    cases = [(ids[0], "a", Code.FAILED_PRECONDITION, f"item {ids[0]!r} is labeled 'b' by 'bob', not labeled 'a'"),
             (ids[1], "a", Code.FAILED_PRECONDITION, f"item {ids[1]!r} is unlabeled, not labeled 'a'"),
             ("nope", "a", Code.NOT_FOUND, "'nope'"),
             (ids[0], "", Code.INVALID_ARGUMENT, "give the label to undo")]
    for item, label, code, message in cases:
        refusal = _refused(lambda: client.undo_label("undo-refusals", item, label=label, annotator="ann"))
        assert (refusal.code, message in refusal.message) == (code, True), (item, refusal.message)
    assert client.export_labels("undo-refusals") == {ids[0]: "b"}
    assert client.get_project("undo-refusals").leased_count == 0


# --------------------------------------------------------------------- items
def test_get_items_reports_state_label_prediction_and_lease(client: Client) -> None:
    ids, _, cluster = _pool(client, "get", 40)
    same = [i for i, c in zip(ids, cluster) if c == cluster[0]]
    client.submit_labels("get", {same[0]: "zero", next(i for i, c in zip(ids, cluster) if c != cluster[0]): "other"},
                         annotator="ann")
    leased = client.next_sample("get", 1, annotator="bob", **EVERY)[0]
    labeled, neighbour, held = client.items("get", [same[0], same[1], leased.id])

    assert (labeled.state, labeled.label, labeled.annotator) == ("labeled", "zero", "ann")
    assert labeled.metadata == {"n": 0}
    assert (neighbour.state, neighbour.label, neighbour.annotator) in {("unlabeled", "", ""), ("leased", "", "")}
    assert neighbour.predicted_label == "zero" and neighbour.confidence == max(neighbour.probabilities.values()) > 0.5
    assert neighbour.density > 0 and isinstance(neighbour.outlier, bool)
    assert (held.state, held.lease_annotator, held.lease_expires_at) == ("leased", "bob", leased.lease_expires_at)

    refusal = _refused(lambda: client.items("get", [ids[0], "missing"]))
    assert refusal.code == Code.NOT_FOUND and "missing" in refusal.message


def test_list_items_pages_through_the_pool_once_in_order_and_filters_by_state(client: Client) -> None:
    ids, _, _ = _pool(client, "pages", 23)
    client.submit_label("pages", ids[5], "a")
    client.skip("pages", [ids[7]])
    seen, token, pages = [], "", 0
    while True:
        page = client.list_items("pages", page_size=5, page_token=token)
        seen += [item.id for item in page.items]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == ids and pages == 5
    assert [i.id for i in client.list_items("pages", state="labeled").items] == [ids[5]]
    assert [i.id for i in client.list_items("pages", state="skipped").items] == [ids[7]]
    assert len(client.list_items("pages", state="unlabeled", page_size=100).items) == 21
    assert all(i.outlier for i in client.list_items("pages", state="outlier", page_size=100).items)


@pytest.mark.parametrize("options, fragment", [({"page_token": "not-a-token"}, "start again with an empty token"),
                                               ({"page_size": 1001}, "1000")])
def test_list_items_refuses_a_bad_token_or_page_size(client: Client, options: dict, fragment: str) -> None:
    if "list-refusals" not in {p.name for p in client.list_projects()}:
        _pool(client, "list-refusals", 4)
    refusal = _refused(lambda: client.list_items("list-refusals", **options))
    assert refusal.code == Code.INVALID_ARGUMENT and fragment in refusal.message


def test_an_unknown_state_is_refused_before_sending(client: Client) -> None:
    with pytest.raises(InvalidInputError, match="unknown item state 'done'; choose one of unlabeled, .*outlier"):
        client.list_items("anything", state="done")


def test_a_page_or_search_too_large_for_a_reply_says_to_ask_for_fewer(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    server = serve(tmp_path / "data", "--max-message-mb", "1")
    ids, x, _ = clustered_vectors(30, DIM)
    with server.client() as client:
        client.create_project("big", DIM)
        client.add_items("big", ids, x, [{"text": "w" * 40_000}] * 30, chunk_rows=10)
        refusal = _refused(lambda: client.list_items("big", page_size=30))
        assert refusal.code == Code.RESOURCE_EXHAUSTED and "ask for fewer (page_size)" in refusal.message
        refusal = _refused(lambda: client.search("big", item_id=ids[0], limit=29))
        assert refusal.code == Code.RESOURCE_EXHAUSTED and "ask for fewer (limit)" in refusal.message
        refusal = _refused(lambda: client.items("big", ids))
        assert refusal.code == Code.RESOURCE_EXHAUSTED and "ask for fewer (ids)" in refusal.message
        assert len(client.list_items("big", page_size=20).items) == 20


# -------------------------------------------------------------------- search
def test_search_by_item_or_vector_finds_its_cluster_most_similar_first(client: Client) -> None:
    ids, x, cluster = _pool(client, "search", 40)
    hits = client.search("search", item_id=ids[0], limit=5)
    assert len(hits) == 5 and ids[0] not in {h.id for h in hits}
    assert all(cluster[ids.index(h.id)] == cluster[0] for h in hits)
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    assert hits[0].metadata == {"n": ids.index(hits[0].id)} and hits[0].state == "unlabeled"

    by_vector = client.search("search", vector=x[0], limit=5)
    assert by_vector[0].id == ids[0] and by_vector[0].similarity == pytest.approx(1.0, abs=1e-5)
    client.submit_labels("search", {h.id: "near" for h in hits[:3]})
    unlabeled = client.search("search", item_id=ids[0], limit=5, unlabeled_only=True)
    assert not {h.id for h in unlabeled} & {h.id for h in hits[:3]} and len(unlabeled) == 5
    labeled = {h.id: (h.state, h.label) for h in client.search("search", item_id=ids[0], limit=3)}
    assert labeled == {h.id: ("labeled", "near") for h in hits[:3]}


def test_search_refuses_what_it_cannot_search_by(client: Client, stub: pb_grpc.ActiveLearningStub) -> None:
    ids, x, _ = _pool(client, "search-refusals", 8)
    for options in ({}, {"item_id": ids[0], "vector": x[0]}):
        refusal = _refused(lambda: client.search("search-refusals", **options))
        assert refusal.code == Code.INVALID_ARGUMENT and "exactly one of an item id, a vector or a text" in refusal.message
    refusal = _refused(lambda: client.search("search-refusals", vector=x[:2]))
    assert refusal.code == Code.INVALID_ARGUMENT and "one vector (count 1), got 2" in refusal.message
    refusal = _refused(lambda: client.search("search-refusals", text="a sentence"))
    assert refusal.code == Code.FAILED_PRECONDITION and "has no encoder" in refusal.message
    assert _refused(lambda: client.search("search-refusals", item_id="gone")).code == Code.NOT_FOUND
    assert _refused(lambda: client.search("search-refusals", item_id=ids[0], limit=1001)).code == Code.INVALID_ARGUMENT


# -------------------------------------------------------- removal, metadata
def test_removed_items_leave_the_pool_for_good_and_their_ids_can_come_back(client: Client) -> None:
    ids, x, _ = _pool(client, "remove", 12)
    client.submit_labels("remove", {ids[0]: "a", ids[5]: "b"})
    leased = client.next_sample("remove", 1, annotator="ann", **EVERY)[0].id
    gone = [ids[0], leased, next(i for i in ids[1:5] if i != leased)]
    assert client.remove_items("remove", gone) == 9
    info = client.get_project("remove")
    assert (info.pool_size, info.labeled_count, info.leased_count) == (9, 1, 0)
    assert client.export_labels("remove") == {ids[5]: "b"}
    assert _refused(lambda: client.items("remove", [ids[0]])).code == Code.NOT_FOUND
    assert _refused(lambda: client.predict("remove", [ids[0]])).code == Code.NOT_FOUND
    assert ids[0] not in {i.id for i in client.list_items("remove", page_size=100).items}
    assert ids[0] not in {h.id for h in client.search("remove", vector=x[0], limit=12)}

    assert client.add_items("remove", ids[:1], x[:1], [{"back": True}]) == 10
    (back,) = client.items("remove", ids[:1])
    assert (back.state, back.label, back.metadata) == ("unlabeled", "", {"back": True})
    refusal = _refused(lambda: client.remove_items("remove", [ids[5], gone[1]]))
    assert refusal.code == Code.NOT_FOUND and gone[1] in refusal.message
    assert client.get_project("remove").pool_size == 10


def test_a_repeated_remove_items_request_is_answered_once(client: Client, stub: pb_grpc.ActiveLearningStub) -> None:
    ids, _, _ = _pool(client, "replay-remove", 8)
    request = pb.RemoveItemsRequest(project="replay-remove", ids=ids[:3], request_id="remove-1")
    first = stub.RemoveItems(request, timeout=30)
    second = stub.RemoveItems(request, timeout=30)  # done again: NOT_FOUND, the items are gone
    assert (first.removed, first.pool_size) == (second.removed, second.pool_size) == (3, 5)


def test_update_metadata_replaces_each_items_metadata_and_survives_a_restart(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    server = serve(tmp_path / "data")
    with server.client() as client:
        ids, _, _ = _pool(client, "meta", 6)
        assert client.update_metadata("meta", {ids[0]: {"text": "new", "tags": ["x"]}, ids[1]: {}}) == 2
        refusal = _refused(lambda: client.update_metadata("meta", {ids[2]: {"n": -1}, "nope": {}}))
        assert refusal.code == Code.NOT_FOUND and "nope" in refusal.message
        with pytest.raises(InvalidInputError, match="NaN"):
            client.update_metadata("meta", {ids[2]: {"score": float("nan")}})
    server.restart()
    with server.client() as client:
        assert [i.metadata for i in client.items("meta", ids[:3])] == [{"text": "new", "tags": ["x"]}, {}, {"n": 2}]


# ----------------------------------------------------------- conflict policy
def test_add_items_conflict_policies(client: Client) -> None:
    ids, x, _ = _pool(client, "conflicts", 6)
    client.submit_label("conflicts", ids[0], "a")
    new_ids = ids[:2] + ["fresh"]
    new_x = x[[3, 4, 5]]
    refusal = _refused(lambda: client.add_items("conflicts", new_ids, new_x, [{"v": 2}] * 3))
    assert refusal.code == Code.ALREADY_EXISTS and ids[0] in refusal.message
    assert client.get_project("conflicts").pool_size == 6

    assert client.add_items("conflicts", new_ids, new_x, [{"v": 2}] * 3, on_conflict="skip") == 7
    assert client.last_add is not None
    assert (client.last_add.added, client.last_add.skipped, client.last_add.replaced) == (1, 2, 0)
    assert [i.metadata for i in client.items("conflicts", new_ids)] == [{"n": 0}, {"n": 1}, {"v": 2}]
    assert client.export_labels("conflicts") == {ids[0]: "a"}

    assert client.add_items("conflicts", ids[:2], x[[3, 4]], [{"v": 3}] * 2, on_conflict="replace") == 7
    assert (client.last_add.skipped, client.last_add.replaced, client.last_add.pool_size) == (0, 2, 7)
    assert [i.metadata for i in client.items("conflicts", ids[:2])] == [{"v": 3}, {"v": 3}]
    assert client.export_labels("conflicts") == {}  # the replaced item's label went with it
    with pytest.raises(InvalidInputError, match="unknown conflict policy 'overwrite'"):
        client.add_items("conflicts", ids[:1], x[:1], on_conflict="overwrite")


def test_one_add_items_stream_has_one_conflict_policy(client: Client, stub: pb_grpc.ActiveLearningStub) -> None:
    ids, x, _ = _pool(client, "policy-stream", 4)

    def chunks() -> Iterator[pb.AddItemsRequest]:
        yield pb.AddItemsRequest(project="policy-stream", ids=ids[:2], vectors=vectors_to_proto(x[:2]),
                                 on_conflict=pb.CONFLICT_POLICY_SKIP)
        yield pb.AddItemsRequest(ids=["new"], vectors=vectors_to_proto(x[2:3]), on_conflict=pb.CONFLICT_POLICY_REPLACE)

    refusal = _rpc_refused(lambda: stub.AddItems(chunks(), timeout=30))
    assert refusal.code() == Code.INVALID_ARGUMENT and "one conflict policy" in refusal.details()
    assert client.get_project("policy-stream").pool_size == 4


def _load(server: ServerProcess, dataset: Path, *options: str) -> int:
    return main(["load", str(dataset), "--server", server.address, "--project", "reload", *options])


@pytest.mark.parametrize("upload", [False, True], ids=["by-path", "upload"])
def test_knn_al_load_can_be_rerun_with_on_conflict_skip(server: ServerProcess, client: Client, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str], upload: bool) -> None:
    ids, x, cluster = clustered_vectors(30, DIM, seed=3)
    labels = [f"c{c}" if i % 3 == 0 else None for i, c in enumerate(cluster)]
    write_dataset(tmp_path / "ds", ids=ids, vectors=x, encoder="test", labels=labels)
    extra = ("--upload",) if upload else ()
    if "reload" in {p.name for p in client.list_projects()}:
        client.delete_project("reload")
    assert _load(server, tmp_path / "ds", "--model", "graph") == 2  # a setting needs --create
    assert _load(server, tmp_path / "ds", "--create", "--import-labels", "--model", "graph",
                 "--exponents", "1", "0.5", "2", *extra) == 0
    info = client.get_project("reload")
    assert (info.model, info.exponents) == ("graph", [1.0, 0.5, 2.0])
    client.submit_label("reload", ids[0], "relabeled")  # a human's change survives a rerun
    capsys.readouterr()

    assert _load(server, tmp_path / "ds", "--create", "--import-labels", *extra) == 1
    assert "ALREADY_EXISTS" in capsys.readouterr().err
    assert _load(server, tmp_path / "ds", "--create", "--import-labels", "--on-conflict", "skip", *extra) == 0
    assert "loaded 0 items into 'reload'" in capsys.readouterr().out
    info = client.get_project("reload")
    assert (info.pool_size, info.labeled_count) == (30, 10)
    assert client.export_labels("reload")[ids[0]] == "relabeled"

    # "replace" takes the dataset's items and labels anew.
    assert _load(server, tmp_path / "ds", "--import-labels", "--on-conflict", "replace", *extra) == 0
    assert "loaded 30 items into 'reload' (10 labels imported); pool 30, labeled 10" in capsys.readouterr().out
    assert client.export_labels("reload")[ids[0]] == labels[0]


# -------------------------------------------------------------------- review
def test_review_lists_suspicious_labels_and_recent_labels(client: Client) -> None:
    ids, _, cluster = _pool(client, "review", 60)
    members = {c: [i for i, k in zip(ids, cluster) if k == c] for c in range(4)}
    client.submit_labels("review", {i: f"c{c}" for c, group in members.items() for i in group[:4]}, annotator="ann")
    wrong = members[0][4]
    client.submit_label("review", wrong, "c1", annotator="bob")  # a slip: its neighbours are c0

    (first, *_) = client.suspicious("review")
    assert (first.id, first.label, first.predicted_label, first.annotator) == (wrong, "c1", "c0", "bob")
    assert first.confidence > 0.5
    assert len(client.suspicious("review", limit=1)) == 1

    time.sleep(0.01)  # labels are ordered by their time
    client.submit_label("review", members[2][0], "c2", annotator="carol")  # relabeled: listed once, latest
    recent = client.recent_labels("review", limit=3)
    assert [(e.id, e.label, e.annotator) for e in recent[:2]] == [(members[2][0], "c2", "carol"), (wrong, "c1", "bob")]
    assert recent[0].time >= recent[1].time > 0 and len(recent) == 3
    assert [e.id for e in client.recent_labels("review", limit=100)].count(members[2][0]) == 1
    assert [e.id for e in client.recent_labels("review", annotator="bob")] == [wrong]
    assert client.recent_labels("review", annotator="") == []  # the anonymous annotator gave no label here


def test_duplicate_groups_largest_first_with_their_label(client: Client) -> None:
    rng = np.random.default_rng(7)
    base = rng.standard_normal((6, DIM)).astype(np.float32)
    x = base[[0, 0, 0, 1, 1, 2, 3, 4, 5]]
    ids = ["a0", "a1", "a2", "b0", "b1", "c", "d", "e", "f"]
    client.create_project("dups", DIM, duplicate_threshold=0.999)
    client.add_items("dups", ids, x)
    client.submit_label("dups", "b0", "bee")
    groups = client.duplicate_groups("dups")
    assert [(sorted(g.ids), g.label) for g in groups] == [(["a0", "a1", "a2"], ""), (["b0", "b1"], "bee")]
    assert [g.ids[0] for g in groups] == ["a0", "b0"]  # the root, the member handed out, first
    assert len(client.duplicate_groups("dups", limit=1)) == 1


# ------------------------------------------------ raw items: keep_raw, text search
SPORT = ["The striker scored twice in the second half.", "The team won the championship final on penalties."]
COOKING = ["Simmer the tomato sauce for twenty minutes.", "Knead the bread dough until it is smooth."]


def test_a_keep_raw_project_keeps_the_texts_added_and_searches_by_text(
        tmp_path: Path, serve: Callable[..., ServerProcess]) -> None:
    server = serve(tmp_path / "data", "--http-port", "0")
    texts = SPORT + COOKING
    ids = ["s0", "s1", "c0", "c1"]
    with server.client() as client:
        refusal = _refused(lambda: client.create_project("no-encoder", DIM, keep_raw=True))
        assert refusal.code == Code.INVALID_ARGUMENT and "keep_raw needs an encoder" in refusal.message
        assert client.create_project("kept", encoder="use-multilingual", keep_raw=True).keep_raw
        assert not client.create_project("not-kept", encoder="use-multilingual").keep_raw
        for project in ("kept", "not-kept"):
            client.add_items(project, ids, texts=texts)
        # A replaced item's kept text is the new one.
        client.add_items("kept", ["c1"], texts=["Whisk the eggs with sugar."], on_conflict="replace")
        assert {p.name: p.keep_raw for p in client.list_projects()} == {"kept": True, "not-kept": False}

        hits = client.search("kept", text="Who scored the goals in the final?", limit=2)
        assert {h.id for h in hits} == {"s0", "s1"}

    def media(project: str, item: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"{server.http_url}/api/v1/projects/{project}/items/{item}/media") as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    assert media("kept", "s0") == (200, SPORT[0])
    assert media("kept", "c1") == (200, "Whisk the eggs with sugar.")
    assert media("not-kept", "s0")[0] == 404
    server.restart()  # kept in the log: still there after a restart
    assert media("kept", "s1") == (200, SPORT[1])
