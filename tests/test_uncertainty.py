"""Each uncertainty measure against values computed by hand."""
import numpy as np
import pytest

from knn_al.errors import InvalidInputError
from knn_al.learner.strategies import ecdf
from knn_al.learner.uncertainty import entropy, get_measure, least_confidence, margin

PROBA = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]])


def test_least_confidence_by_hand():
    np.testing.assert_allclose(least_confidence(PROBA), [0.3, 2 / 3, 0.0], atol=1e-7)


def test_margin_by_hand():
    # 1 − (p1 − p2): 1 − (0.7 − 0.2), 1 − 0, 1 − (1 − 0)
    np.testing.assert_allclose(margin(PROBA), [0.5, 1.0, 0.0], atol=1e-7)


def test_entropy_by_hand():
    expected_first = -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))  # 0.8018
    np.testing.assert_allclose(entropy(PROBA), [expected_first, np.log(3), 0.0], atol=1e-6)
    assert abs(expected_first - 0.80182) < 1e-4


def test_single_class_margin_treats_missing_second_as_zero():
    np.testing.assert_allclose(margin(np.array([[0.8]])), [0.2], atol=1e-7)


def test_no_known_class_is_maximally_uncertain_for_every_measure():
    empty = np.empty((3, 0))
    for measure in (least_confidence, margin, entropy):
        np.testing.assert_array_equal(measure(empty), [1, 1, 1])


def test_unknown_measure_is_rejected_with_the_choices():
    with pytest.raises(InvalidInputError, match="least_confidence, margin, entropy"):
        get_measure("variance")


def test_ecdf_matches_direct_rank_counting():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 20, size=200).astype(float)  # many ties on purpose
    direct = np.array([(values <= v).mean() for v in values])
    np.testing.assert_array_equal(ecdf(values), direct)


def test_ecdf_product_matches_direct_ranks():
    rng = np.random.default_rng(4)
    u, i, d = rng.random((3, 300))
    combined = ecdf(u) * ecdf(i) * ecdf(d)
    direct = np.array([(u <= a).mean() * (i <= b).mean() * (d <= c).mean() for a, b, c in zip(u, i, d)])
    np.testing.assert_allclose(combined, direct, rtol=0, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ecdf_ranks_ties_signed_zeros_and_infinities_like_direct_counting(dtype):
    # float32 takes a packed-integer sort; both must count -0.0 and +0.0 as equal.
    rng = np.random.default_rng(5)
    values = rng.standard_normal(5_000).astype(dtype)
    values[:1_000] = np.round(values[:1_000], 1)
    values[1_000:1_050], values[1_050:1_100] = 0.0, -0.0
    values[1_100:1_110], values[1_110:1_120] = np.inf, -np.inf
    rng.shuffle(values)
    direct = (values[None, :] <= values[:, None]).mean(axis=1)
    np.testing.assert_array_equal(ecdf(values), direct)
    # Ranking a few values, or many, against a reference: the same counts.
    for some in (values[:3], values[:500]):
        np.testing.assert_array_equal(ecdf(some, values), direct[: len(some)])


def test_ecdf_against_an_empty_reference_is_zero_for_few_values_and_many():
    for values in (np.ones(3), np.ones(100)):
        np.testing.assert_array_equal(ecdf(values, np.empty(0)), np.zeros(len(values)))
