"""Item operations of the project layer, in-process on real files: skip and unskip,
lease renewal, item records and their pages, search, the reviews (suspicious labels,
duplicate groups, recent labels) and metadata updates. Every change must survive a
restart, and every refusal must change nothing."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from knn_al.errors import InvalidInputError, StateError, UnknownItemError
from tests.items_helpers import all_pages, new_project, observed, ops, reopen

if TYPE_CHECKING:
    from tests.conftest import FakeClock


def test_skipped_items_are_not_handed_out_until_unskipped_even_after_a_restart(tmp_path: Path,
                                                                                 clock: FakeClock) -> None:
    store, project, ids, _, _ = new_project(tmp_path, clock, n=60, duplicate_threshold=1.0)
    first = [s.id for s in project.next_sample(5, annotator="a", seed=1)]
    project.release(first, annotator="a")
    assert project.skip(first, annotator="a") == 5
    assert project.stats().skipped == 5
    handed = {s.id for s in project.next_sample(60, include_outliers=True)}
    assert handed == set(ids) - set(first)

    store, project = reopen(store, tmp_path, clock)
    assert sorted(all_pages(project, "skipped", 2)) == sorted(first)
    assert project.stats().skipped == 5
    assert [e.source for e in project.export() if e.id in first] == ["skipped"] * 5
    assert project.next_sample(60, include_outliers=True) == []  # the rest are still leased (replayed)

    assert project.unskip(first[:2]) == 2
    assert {s.id for s in project.next_sample(60, include_outliers=True)} == set(first[:2])
    store, project = reopen(store, tmp_path, clock)
    assert sorted(all_pages(project, "skipped", 50)) == sorted(first[2:])


def test_skip_ends_anyones_lease_and_skipping_twice_changes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    _, project, _, _, _ = new_project(tmp_path, clock, n=40)
    (leased,) = [s.id for s in project.next_sample(1, annotator="alice")]
    project.skip([leased], annotator="bob")
    (record,) = project.items([leased])
    assert (record.state, record.lease_annotator, record.lease_expires_at) == ("skipped", "", 0.0)
    assert project.info().leased_count == 0
    before, rows = observed(project), len(ops(project.path))
    project.skip([leased], annotator="bob")
    assert observed(project) == before and len(ops(project.path)) == rows + 1  # logged, same state


def test_refused_skips_unskips_and_renewals_change_nothing(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, _, _ = new_project(tmp_path, clock, n=40)
    project.label([ids[0]], ["a"])
    (leased,) = [s.id for s in project.next_sample(1, annotator="alice")]
    before, rows = observed(project), ops(project.path)
    refusals = [
        (StateError, "remove its label first", lambda: project.skip([ids[3], ids[0]])),
        (UnknownItemError, "nope", lambda: project.skip([ids[3], "nope"])),
        (InvalidInputError, "more than once", lambda: project.skip([ids[3], ids[3]])),
        (InvalidInputError, "empty", lambda: project.skip([])),
        (StateError, "not skipped", lambda: project.unskip([ids[3]])),
        (StateError, "leased to 'alice'", lambda: project.renew([leased], annotator="bob")),
        (StateError, "not handed out", lambda: project.renew([ids[3]], annotator="alice")),
        (InvalidInputError, "lease_seconds", lambda: project.renew([leased], annotator="alice", lease_seconds=-1)),
    ]
    for error, message, call in refusals:
        with pytest.raises(error, match=message):
            call()
    assert observed(project) == before and ops(project.path) == rows


def test_labeling_a_skipped_item_labels_it(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, _, _ = new_project(tmp_path, clock, n=40)
    project.skip(ids[:2])
    project.label(ids[:1], ["a"])
    assert [r.state for r in project.items(ids[:2])] == ["labeled", "skipped"]
    assert project.stats().skipped == 1
    project.unlabel(ids[:1])
    store, project = reopen(store, tmp_path, clock)
    assert [r.state for r in project.items(ids[:2])] == ["unlabeled", "skipped"]


def test_a_skipped_item_does_not_push_picks_away_as_a_handed_out_one_does(tmp_path: Path, clock: FakeClock) -> None:
    _, project, _, _, _ = new_project(tmp_path, clock, n=80)
    (top,) = project.next_sample(1, annotator="a", seed=0)
    # Nothing is labeled: a pick's diversity is 2 unless something handed out is near it.
    (second,) = project.next_sample(1, annotator="a", seed=0)
    assert second.pick.diversity < 2.0
    project.release([second.id], annotator="a")
    project.skip([top.id])
    assert project.next_sample(1, seed=0)[0].pick.diversity == 2.0


def test_renew_extends_the_holders_leases_past_their_old_deadline(tmp_path: Path, clock: FakeClock) -> None:
    store, project, _, _, _ = new_project(tmp_path, clock, n=30, lease_seconds=60)
    leased = [s.id for s in project.next_sample(2, annotator="alice")]
    clock.now += 50
    deadline = project.renew(leased, annotator="alice", lease_seconds=100)
    assert deadline == clock.now + 100
    assert {r.lease_expires_at for r in project.items(leased)} == {deadline}
    clock.now += 90  # past the first deadline, before the new one
    store, project = reopen(store, tmp_path, clock)
    assert [r.state for r in project.items(leased)] == ["leased", "leased"]
    assert not set(leased) & {s.id for s in project.next_sample(30, include_outliers=True)}


def test_item_records_show_state_label_annotator_prediction_and_lease(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, x, cluster = new_project(tmp_path, clock, n=100, duplicate_threshold=1.0)
    same = [i for i in range(1, 100) if cluster[i] == cluster[0]][:3]
    project.label([ids[0]] + [ids[i] for i in same], [f"c{cluster[0]}"] * 4, annotator="ann")
    (leased,) = [s.id for s in project.next_sample(1, annotator="bob")]
    labeled, lease = project.items([ids[0], leased])
    assert (labeled.state, labeled.label, labeled.annotator, labeled.metadata) == ("labeled", f"c{cluster[0]}",
                                                                                    "ann", {"n": 0})
    assert labeled.predicted_label == f"c{cluster[0]}" and labeled.confidence == max(labeled.probabilities.values())
    assert (lease.state, lease.label, lease.annotator, lease.lease_annotator) == ("leased", "", "", "bob")
    assert lease.lease_expires_at == clock.now + 600
    assert lease.density == pytest.approx(float(project.learner.density_[ids.index(leased)]))
    with pytest.raises(UnknownItemError, match="nope"):
        project.items([ids[1], "nope"])
    with pytest.raises(InvalidInputError, match="at most 1000"):
        project.items(ids * 11)


def test_item_pages_cover_every_item_exactly_once_per_state(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, x, _ = new_project(tmp_path, clock, n=150, outlier_quantile=0.05)
    project.add_items(["copy-a", "copy-b"], np.stack([x[7], x[7]]))  # duplicates of item 7
    project.label([ids[7], ids[8], ids[9]], ["a", "b", "a"])
    project.skip(ids[20:25])
    leased = [s.id for s in project.next_sample(6, annotator="z")]
    records = {r.id: r for r in project.list_items(page_size=1000).items}
    assert len(records) == 152
    for state in ("unlabeled", "labeled", "propagated", "leased", "skipped"):
        listed = all_pages(project, state, 7)
        assert len(listed) == len(set(listed))
        assert set(listed) == {i for i, r in records.items() if r.state == state}, state
    assert {"copy-a", "copy-b"} <= set(all_pages(project, "propagated", 3))
    assert set(all_pages(project, "leased", 4)) == set(leased)
    outliers = all_pages(project, "outlier", 2)
    assert outliers and set(outliers) == {i for i, r in records.items() if r.outlier}
    assert all_pages(project, None, 13) == list(records)  # pool order, every item once
    for bad in ({"page_token": "x1"}, {"page_token": "99999"}, {"page_size": 0}, {"page_size": 1001},
                {"state": "done"}):
        with pytest.raises(InvalidInputError):
            project.list_items(**bad)


def test_search_finds_the_most_similar_items_by_id_or_vector(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, x, cluster = new_project(tmp_path, clock, n=120, duplicate_threshold=1.0)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit[5]
    expected = [ids[i] for i in np.argsort(-sims) if i != 5][:10]
    hits = project.search(item_id=ids[5], limit=10)
    assert [h.id for h in hits] == expected
    assert [h.similarity for h in hits] == pytest.approx(sorted(sims[[ids.index(e) for e in expected]], reverse=True),
                                                         abs=1e-5)
    assert hits[0].metadata == {"n": ids.index(hits[0].id)} and hits[0].state == "unlabeled"
    by_vector = project.search(vector=x[5] * 3, limit=3)  # any scale: normalised
    assert [h.id for h in by_vector] == [ids[5]] + expected[:2]

    project.label(expected[:4], ["a"] * 4)
    project.skip(expected[4:5])
    unlabeled = project.search(item_id=ids[5], limit=6, unlabeled_only=True)
    assert [h.id for h in unlabeled] == expected[4:10]
    assert unlabeled[0].state == "skipped"
    assert [h.label for h in project.search(item_id=ids[5], limit=1)] == ["a"]
    for bad in ({}, {"item_id": ids[0], "vector": x[0]}, {"item_id": ids[0], "limit": 0},
                {"item_id": ids[0], "limit": 1001}, {"vector": np.zeros(16)}, {"vector": x[:2]}):
        with pytest.raises(InvalidInputError):
            project.search(**bad)
    with pytest.raises(UnknownItemError):
        project.search(item_id="nope")


def test_suspicious_labels_put_a_deliberately_wrong_label_first(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, _, cluster = new_project(tmp_path, clock, n=300, duplicate_threshold=1.0)
    careful = [i for i in range(80) if cluster[i] != 2]
    project.label([ids[i] for i in careful], [f"c{cluster[i]}" for i in careful], annotator="careful")
    unsure = [i for i in range(80, 300) if cluster[i] == 2][:3]  # a few labels, one of them at odds
    project.label([ids[i] for i in unsure], ["c2", "c2", "x2"], annotator="unsure")
    wrong = next(i for i in range(80, 300) if cluster[i] == 0)
    project.label([ids[wrong]], ["c1"], annotator="sloppy")
    suspicious = project.suspicious(5)
    assert len(suspicious) >= 3
    assert (suspicious[0].id, suspicious[0].label, suspicious[0].predicted_label, suspicious[0].annotator) == (
        ids[wrong], "c1", "c0", "sloppy")
    assert [s.confidence for s in suspicious] == sorted((s.confidence for s in suspicious), reverse=True)
    assert all(s.label != s.predicted_label for s in suspicious)
    project.label([ids[wrong]], ["c0"], annotator="sloppy")
    assert ids[wrong] not in {s.id for s in project.suspicious(100)}
    with pytest.raises(InvalidInputError, match="limit"):
        project.suspicious(0)


def test_duplicate_groups_come_largest_first_with_their_label(tmp_path: Path, clock: FakeClock) -> None:
    _, project, ids, x, _ = new_project(tmp_path, clock, n=40, duplicate_threshold=1.0)
    project.add_items(["a1", "a2", "b1", "b2", "b3"], np.stack([x[3], x[3], x[9], x[9], x[9]]))
    project.label(["a2"], ["cat"])
    groups = project.duplicate_groups()
    assert [(g.ids, g.label) for g in groups] == [([ids[9], "b1", "b2", "b3"], ""), ([ids[3], "a1", "a2"], "cat")]
    assert [g.ids for g in project.duplicate_groups(1)] == [[ids[9], "b1", "b2", "b3"]]


def test_recent_labels_are_the_current_human_labels_newest_first(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, _, _ = new_project(tmp_path, clock, n=30)
    for i, who in enumerate(["ann", "bob", "ann", "bob"]):
        clock.now += 1
        project.label([ids[i]], [f"l{i}"], annotator=who)
    clock.now += 1
    project.label([ids[0]], ["again"], annotator="bob")
    project.unlabel([ids[1]])
    expected = [(ids[0], "again", "bob", clock.now), (ids[3], "l3", "bob", clock.now - 1),
                (ids[2], "l2", "ann", clock.now - 2)]
    assert [(e.id, e.label, e.annotator, e.time) for e in project.recent_labels()] == expected
    assert [e.id for e in project.recent_labels(annotator="ann")] == [ids[2]]
    assert [e.id for e in project.recent_labels(2)] == [ids[0], ids[3]]
    store, project = reopen(store, tmp_path, clock)
    assert [(e.id, e.label, e.annotator, e.time) for e in project.recent_labels()] == expected
    assert project.items([ids[0]])[0].annotator == "bob"


def test_metadata_updates_replace_it_and_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, _, _ = new_project(tmp_path, clock, n=30)
    assert project.update_metadata({ids[1]: {"text": "new"}, ids[2]: {}}) == 2
    before, rows = observed(project), ops(project.path)
    for error, bad in ((UnknownItemError, {ids[3]: {"x": 1}, "nope": {}}),
                       (InvalidInputError, {ids[3]: {"x": float("nan")}}),
                       (InvalidInputError, {ids[3]: {"x": "y" * 70_000}}),
                       (InvalidInputError, {ids[3]: ["not", "a", "mapping"]}),
                       (InvalidInputError, {})):
        with pytest.raises(error):
            project.update_metadata(bad)  # type: ignore[arg-type]
    assert observed(project) == before and ops(project.path) == rows
    store, project = reopen(store, tmp_path, clock)
    assert [r.metadata for r in project.items(ids[:3])] == [{"n": 0}, {"text": "new"}, {}]
    assert {h.id: h.metadata for h in project.search(item_id=ids[0], limit=29)}[ids[1]] == {"text": "new"}


def test_every_operation_replays_to_the_same_state(tmp_path: Path, clock: FakeClock) -> None:
    store, project, ids, x, cluster = new_project(tmp_path, clock, n=200)
    project.label(ids[:30], [f"c{c}" for c in cluster[:30]], annotator="ann")
    unlabeled = [r.id for r in project.list_items(state="unlabeled", page_size=5).items]
    project.skip(unlabeled, annotator="ann")
    project.unskip(unlabeled[:2])
    project.remove_items(ids[50:55] + [ids[3]])
    project.add_items(ids[50:52], x[60:62], on_conflict="error")
    project.add_items(ids[100:104], x[:4], [{"new": True}] * 4, on_conflict="replace")
    project.update_metadata({ids[10]: {"m": 1}})
    project.unlabel(ids[4:6])
    leased = [s.id for s in project.next_sample(3, annotator="bob", seed=2)]
    project.renew(leased, annotator="bob")
    before = observed(project)
    picks = project.next_sample(4, seed=9)
    project.release([p.id for p in picks])
    store, project = reopen(store, tmp_path, clock)
    assert observed(project) == before
    assert project.next_sample(4, seed=9) == picks
