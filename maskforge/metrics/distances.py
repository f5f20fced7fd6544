"""Sample-quality metrics on feature vectors (numpy, float64).

* :func:`frechet_distance` — FID (Heusel et al.): ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})``.
* :func:`kernel_inception_distance` — KID (Bińkowski et al.): unbiased MMD^2 with the cubic
  polynomial kernel ``(x.y / d + 1)^3``, averaged over random subsets.
* :func:`prdc` — precision, recall, density, coverage (Kynkäänniemi et al.; Naeem et al.) with
  k nearest neighbours (k = 5).
* :func:`inception_score` — ``exp(E_x KL(p(y|x) || p(y)))`` from class logits, over splits.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of (N, D) features, float64, unbiased covariance."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need at least 2 feature vectors of shape (N, D), got {features.shape}")
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape} vs {mu2.shape}, {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # singular products are handled below
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # Singular product (e.g. fewer samples than dimensions): regularise the diagonal.
        offset = np.eye(sigma1.shape[0]) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, *, subsets: int = 10, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID mean and standard deviation over ``subsets`` random subsets."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    n = min(len(real), len(fake), subset_size)
    if n < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    rng = np.random.default_rng(seed)
    d = real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), n, replace=False)]
        y = fake[rng.choice(len(fake), n, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (n * (n - 1)) - 2 * kxy.mean()
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def _kth_radius(x: np.ndarray, k: int) -> np.ndarray:
    dist = _pairwise(x, x)
    return np.sort(dist, axis=1)[:, k]  # column 0 is the point itself


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"PRDC with k={k} needs more than {k} samples on each side")
    real_radius = _kth_radius(real, k)
    fake_radius = _kth_radius(fake, k)
    dist = _pairwise(real, fake)  # (N_real, N_fake)
    inside_real = dist < real_radius[:, None]
    precision = inside_real.any(axis=0).mean()
    recall = (dist < fake_radius[None, :]).any(axis=1).mean()
    density = inside_real.sum(axis=0).mean() / k
    coverage = (dist.min(axis=1) < real_radius).mean()
    return {"precision": float(precision), "recall": float(recall), "density": float(density), "coverage": float(coverage)}


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS mean and standard deviation over ``splits`` splits of class logits (N, C)."""
    logits = np.asarray(logits, np.float64)
    logits = logits - logits.max(1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(1, keepdims=True)
    scores = []
    for part in np.array_split(probs, max(1, min(splits, len(probs)))):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
