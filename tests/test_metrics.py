"""FID against closed forms and an independent computation; PRDC, KID and IS on worked examples."""

import numpy as np
import pytest
from scipy import linalg

from maskforge.metrics.distances import (
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    prdc,
    statistics,
)


def test_fid_of_two_gaussians_with_commuting_covariances_has_the_closed_form():
    # N(m1, a^2 I) vs N(m2, b^2 I) in d dims: |m1 - m2|^2 + d (a - b)^2
    d = 7
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    a, b = 2.0, 0.5
    expected = d * 0.25 + d * (a - b) ** 2
    assert frechet_distance(mu1, a**2 * np.eye(d), mu2, b**2 * np.eye(d)) == pytest.approx(expected, rel=1e-9)


def test_fid_of_diagonal_gaussians_sums_per_dimension_terms():
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    mu1, mu2 = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected)


def test_fid_matches_an_independent_eigenvalue_computation_on_random_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    y = rng.normal(loc=0.3, size=(500, 6)) @ rng.normal(size=(6, 6))
    m1, c1 = x.mean(0), np.cov(x, rowvar=False)
    m2, c2 = y.mean(0), np.cov(y, rowvar=False)
    # Independent route: Tr((C1 C2)^{1/2}) = sum of sqrt of eigenvalues of sqrt(C1) C2 sqrt(C1).
    r1 = linalg.sqrtm(c1).real
    eig = np.linalg.eigvalsh(r1 @ c2 @ r1)
    independent = ((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.sqrt(np.clip(eig, 0, None)).sum()
    mu_a, sig_a = statistics(x)
    mu_b, sig_b = statistics(y)
    assert frechet_distance(mu_a, sig_a, mu_b, sig_b) == pytest.approx(independent, rel=1e-6)
    assert frechet_distance(mu_a, sig_a, mu_a, sig_a) == pytest.approx(0.0, abs=1e-6)


def test_prdc_on_a_hand_worked_one_dimensional_example():
    # Real points 0..9 on a line; k = 1 neighbourhood radius of every real point is 1.
    real = np.arange(10, dtype=float)[:, None]
    fake = np.array([[0.5], [4.2], [20.0]])
    # precision: fakes within radius 1 (strictly) of some real point -> 0.5 and 4.2 -> 2/3
    # density: (#real balls containing each fake) / k, averaged: 0.5 in balls of 0 and 1 (2), 4.2 in 4 and 5 (2), 20 in none -> 4/3/1
    # coverage: real points whose nearest fake is within their radius: 0, 1 (0.5), 4, 5 (4.2) -> 4/10
    # recall: fake radius (k=1) = distance to nearest other fake: 0.5->3.7, 4.2->3.7, 20->15.8;
    #   every real point is within some fake's radius -> 1.0
    got = prdc(real, fake, k=1)
    assert got["precision"] == pytest.approx(2 / 3)
    assert got["density"] == pytest.approx(4 / 3)
    assert got["coverage"] == pytest.approx(0.4)
    assert got["recall"] == pytest.approx(1.0)


def test_prdc_of_a_distribution_with_itself_is_near_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4))
    got = prdc(x, rng.normal(size=(300, 4)), k=5)
    assert got["precision"] > 0.8 and got["recall"] > 0.8 and got["coverage"] > 0.8


def test_kid_is_near_zero_for_one_distribution_and_positive_for_shifted():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    same, _ = kernel_inception_distance(x, y, subsets=5, subset_size=200)
    shifted, _ = kernel_inception_distance(x, y + 1.0, subsets=5, subset_size=200)
    assert abs(same) < 0.05 and shifted > 10 * abs(same)


def test_inception_score_is_one_for_uniform_predictions_and_num_classes_for_confident_diverse_ones():
    assert inception_score(np.zeros((100, 10)), splits=2)[0] == pytest.approx(1.0)
    confident = np.eye(10)[np.arange(100) % 10] * 50.0
    assert inception_score(confident, splits=2)[0] == pytest.approx(10.0, rel=1e-3)


def test_statistics_need_enough_samples():
    with pytest.raises(ValueError, match="at least 2"):
        statistics(np.zeros((1, 3)))
