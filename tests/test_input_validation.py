"""Hostile or unusual input refused (or handled) with an error that says what is wrong:
vectors at the edges of float32's range, and dataset manifests and shard records that are
valid JSON of the wrong shape."""
from __future__ import annotations

import json

import numpy as np
import pytest

from knn_al.learner import vectors as vectors_module
from knn_al.dataset import DatasetError, read_dataset, read_manifest, write_dataset
from knn_al.errors import InvalidInputError
from knn_al.learner import Learner
from knn_al.learner.vectors import as_unit_vectors

DIM = 16


def random_rows(n: int, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


# --- vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e20, 1e-30], ids=["huge", "tiny"])
def test_scaled_vectors_normalise_like_the_unscaled_ones(scale):
    # float32 squares overflow past ~1.8e19 and go subnormal/zero below ~1e-19: the norm
    # must not be computed on the raw components.
    x = random_rows(5)
    scaled = (x * np.float32(scale)).astype(np.float32)
    assert np.isfinite(scaled).all() and (scaled != 0).all()
    np.testing.assert_allclose(as_unit_vectors(scaled, dimension=DIM), as_unit_vectors(x, dimension=DIM),
                               rtol=1e-5, atol=1e-6)


def test_one_huge_component_dominates_the_direction():
    x = np.ones((1, DIM), dtype=np.float32)
    x[0, 3] = 1e20
    unit = as_unit_vectors(x, dimension=DIM)
    assert unit[0, 3] == pytest.approx(1.0)
    np.testing.assert_allclose(np.delete(unit[0], 3), 0.0, atol=1e-12)


def test_float64_values_below_float32_range_keep_their_direction():
    # 1e-300 is 0 in float32; scaled first, the row still has a direction.
    x = random_rows(3).astype(np.float64) * 1e-300
    np.testing.assert_allclose(as_unit_vectors(x, dimension=DIM), as_unit_vectors(x * 1e300, dimension=DIM),
                               rtol=1e-5, atol=1e-6)


def test_float64_values_beyond_float32_range_are_refused_by_row():
    x = np.ones((3, DIM))
    x[1, 4] = 1e300
    with pytest.raises(InvalidInputError, match=r"row 1 .*outside float32's range") as caught:
        as_unit_vectors(x, dimension=DIM)
    assert "NaN" not in str(caught.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_by_row(bad):
    x = random_rows(3)
    x[2, 0] = bad
    with pytest.raises(InvalidInputError, match="row 2 contains NaN or inf"):
        as_unit_vectors(x, dimension=DIM)


def test_an_all_zero_row_is_refused_by_row():
    x = random_rows(3)
    x[1] = 0.0
    with pytest.raises(InvalidInputError, match="row 1 is all zeros"):
        as_unit_vectors(x, dimension=DIM)


def test_rows_are_named_by_their_index_in_the_whole_array(monkeypatch):
    # Work is done block by block; a bad row in a later block keeps its global index.
    monkeypatch.setattr(vectors_module, "_BLOCK_ELEMENTS", 2 * DIM)
    x = random_rows(7)
    np.testing.assert_allclose(np.linalg.norm(as_unit_vectors(x, dimension=DIM), axis=1), 1.0, rtol=1e-6)
    x[5] = 0.0
    with pytest.raises(InvalidInputError, match="row 5 is all zeros"):
        as_unit_vectors(x, dimension=DIM)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_result_is_a_fresh_c_contiguous_float32_array_of_unit_rows(dtype):
    x = np.asfortranarray((random_rows(6) * 100).astype(dtype))
    before = x.copy()
    unit = as_unit_vectors(x, dimension=DIM)
    assert unit.dtype == np.float32 and unit.flags.c_contiguous and unit.flags.owndata
    assert not np.shares_memory(unit, x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("scale", [1e20, 1e-30], ids=["huge", "tiny"])
def test_learner_predicts_scaled_vectors_like_the_unscaled_ones(scale):
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((3, DIM))
    truth = np.repeat(np.arange(3), 20)
    pool = (centers[truth] + 0.3 * rng.standard_normal((len(truth), DIM))).astype(np.float32)
    learner = Learner(dimension=DIM, k=5, classes=["a", "b", "c"])
    ids = [f"x{i}" for i in range(len(pool))]
    learner.add_items(ids, pool)
    learner.label(ids[::4], ["abc"[t] for t in truth[::4]])
    queries = (centers[[0, 1, 2, 0]] + 0.3 * rng.standard_normal((4, DIM))).astype(np.float32)
    expected = learner.predict_proba_vectors(queries)
    scaled = learner.predict_proba_vectors((queries * np.float32(scale)).astype(np.float32))
    np.testing.assert_allclose(scaled, expected, rtol=1e-5, atol=1e-6)
    assert list(expected.argmax(axis=1)) == [0, 1, 2, 0]


# --- dataset manifests ----------------------------------------------------------------


@pytest.fixture
def dataset_dir(tmp_path):
    """A valid dataset of 6 items in 3 shards of 2 (shard-00000 .. shard-00002)."""
    vectors = as_unit_vectors(random_rows(6), dimension=DIM)
    ids = [f"item-{i}" for i in range(6)]
    labels = ["a", None, "b", None, "a", "b"]
    return write_dataset(tmp_path / "d", ids=ids, vectors=vectors, encoder="custom", labels=labels, shard_size=2)


def edit_manifest(path, edit) -> None:
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    replaced = edit(manifest)
    manifest_path.write_text(json.dumps(manifest if replaced is None else replaced))


def setting(key, value):
    return lambda m: m.__setitem__(key, value)


def shard_setting(position, key, value):
    return lambda m: m["shards"][position].__setitem__(key, value)


def shard_without(position, key):
    def edit(manifest):
        del manifest["shards"][position][key]
    return edit


MALFORMED_MANIFESTS = [
    ("list", lambda m: [m], r"expected a JSON object, found \[\{"),
    ("dimension-text", setting("dimension", "abc"), r'dimension is "abc"; expected a positive integer'),
    ("dimension-negative", setting("dimension", -3), r"dimension is -3; expected a positive integer"),
    ("dimension-zero", setting("dimension", 0), r"dimension is 0; expected a positive integer"),
    ("dimension-float", setting("dimension", 1.5), r"dimension is 1.5; expected a positive integer"),
    ("dimension-bool", setting("dimension", True), r"dimension is true; expected a positive integer"),
    ("encoder-number", setting("encoder", 7), r"encoder is 7; expected a string"),
    ("modality-null", setting("modality", None), r"modality is null; expected a string"),
    ("shards-object", setting("shards", {"0": {}}), r'shards is \{"0": \{\}\}; expected a list'),
    ("shards-number", setting("shards", 3), r"shards is 3; expected a list"),
    ("shards-text", setting("shards", "ab"), r'shards is "ab"; expected a list'),
    ("shard-not-object", lambda m: m["shards"].__setitem__(1, 1), r"shards\[1\] is 1; expected an object"),
    ("shard-no-index", shard_without(1, "index"), r"shards\[1\] has no index"),
    ("shard-index-text", shard_setting(1, "index", "1"), r'shards\[1\] has index "1"; expected a non-negative'),
    ("shard-index-negative", shard_setting(1, "index", -1), r"shards\[1\] has index -1; expected a non-negative"),
    ("shard-index-float", shard_setting(1, "index", 1.0), r"shards\[1\] has index 1.0; expected a non-negative"),
    ("shard-no-count", shard_without(2, "count"), r"shard 2 has no count"),
    ("shard-count-negative", shard_setting(2, "count", -1), r"shard 2 has count -1; expected a non-negative"),
    ("shard-count-text", shard_setting(2, "count", "2"), r'shard 2 has count "2"; expected a non-negative'),
    ("shard-count-bool", shard_setting(2, "count", True), r"shard 2 has count true; expected a non-negative"),
    ("shard-duplicate", shard_setting(2, "index", 1), r"shard 1 is listed twice"),
    ("shard-failed-not-list", shard_setting(0, "failed", 2), r"shard 0 has failed 2; expected a list"),
    ("complete-text", setting("complete", "true"), r'complete is "true"; expected true or false'),
    ("complete-number", setting("complete", 1), r"complete is 1; expected true or false"),
]


@pytest.mark.parametrize("edit, message", [case[1:] for case in MALFORMED_MANIFESTS],
                         ids=[case[0] for case in MALFORMED_MANIFESTS])
def test_malformed_manifest_is_a_dataset_error_naming_the_manifest(dataset_dir, edit, message):
    edit_manifest(dataset_dir, edit)
    for read in (read_dataset, read_manifest):
        with pytest.raises(DatasetError, match=message) as caught:
            read(dataset_dir)
        assert str(caught.value).startswith(f"{dataset_dir / 'manifest.json'}: ")
        assert isinstance(caught.value, ValueError)


MALFORMED_RECORDS = [
    ("not-object", ['5', '{"id": "b"}'], r"line 1: the record is 5; expected an object"),
    ("list", ['{"id": "a"}', '["b"]'], r'line 2: the record is \["b"\]; expected an object'),
    ("no-id", ['{"id": "a"}', '{"source": "b.txt"}'], r"line 2: the record has no id"),
    ("null-id", ['{"id": null}', '{"id": "b"}'], r"line 1: id is null; expected a string"),
    ("object-id", ['{"id": {"x": 1}}', '{"id": "b"}'], r'line 1: id is \{"x": 1\}; expected a string'),
    ("number-label", ['{"id": "a", "label": 5}', '{"id": "b"}'], r"line 1: label is 5; expected a string or null"),
    ("list-label", ['{"id": "a"}', '{"id": "b", "label": ["x"]}'], r'line 2: label is \["x"\]; expected a string'),
]


@pytest.mark.parametrize("lines, message", [case[1:] for case in MALFORMED_RECORDS],
                         ids=[case[0] for case in MALFORMED_RECORDS])
def test_malformed_shard_record_is_a_dataset_error_naming_the_line(dataset_dir, lines, message):
    (dataset_dir / "shard-00001.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=message) as caught:
        read_dataset(dataset_dir)
    assert str(caught.value).startswith(f"{dataset_dir / 'shard-00001.jsonl'} ")


def test_integer_ids_are_still_read_as_text(dataset_dir):
    (dataset_dir / "shard-00001.jsonl").write_text('{"id": 7, "label": "a"}\n{"id": "b", "label": null}\n')
    dataset = read_dataset(dataset_dir)
    assert dataset.ids[2:4] == ["7", "b"] and dataset.labels[2:4] == ["a", None]


def test_a_valid_dataset_still_reads(dataset_dir):
    dataset = read_dataset(dataset_dir)
    assert dataset.ids == [f"item-{i}" for i in range(6)] and dataset.dimension == DIM
    assert read_manifest(dataset_dir)["complete"] is True
