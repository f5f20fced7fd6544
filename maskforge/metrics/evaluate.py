"""``maskforge eval``: sample-quality metrics of a run, with the provenance of every number.

Generates ``n_samples`` images from the run's (averaged) generator, extracts features of them and
of up to ``n_reference`` training images, and reports FID, KID, precision / recall / density /
coverage (k = 5) and — for extractors with class logits — the Inception Score. Reference
statistics (mean, covariance, and the feature sample for KID/PRDC) are cached per dataset,
resolution, extractor and count under ``~/.cache/maskforge/reference`` (``--no-cache`` to skip).
Results go to ``<run_dir>/eval.json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs
import numpy as np
import torch

from maskforge.errors import MaskforgeError
from maskforge.metrics.distances import (
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    prdc,
    statistics,
)
from maskforge.metrics.extractors import make_extractor
from maskforge.plugin_system.manager import Plugins
from maskforge.runs.restore import load_run

PRDC_MAX = 5000  # PRDC needs all pairwise distances: cap the sample size it uses
REFERENCE_SEED = 0  # which training images form the reference when there are more than asked for
_DEFAULT_CACHE_DIR = Path.home() / ".cache" / "maskforge" / "reference"  # evaluate(cache_dir=None) skips the cache


def _features(extractor, batches) -> tuple[np.ndarray, np.ndarray | None]:
    feats, logits = [], []
    for images in batches:
        f, lg = extractor(images)
        feats.append(f)
        if lg is not None:
            logits.append(lg)
    return np.concatenate(feats), (np.concatenate(logits) if logits else None)


def _reference(extractor, data, spec, n: int, batch: int, cache_dir: Path | None) -> tuple[np.ndarray, dict]:
    # Everything that changes the reference images is in the key: the data spec with its root
    # made absolute, the dataset's length, the extractor, the count and the subset's seed.
    where = {**attrs.asdict(spec), "root": str(Path(spec.root).resolve()) if spec.root else ""}
    key = json.dumps({"data": where, "length": len(data), "resolution": data.resolution, "channels": data.channels,
                      "extractor": extractor.provenance, "n": n, "subset_seed": REFERENCE_SEED}, sort_keys=True)
    name = hashlib.sha1(key.encode()).hexdigest()[:16]
    path = cache_dir / f"{data.name}_{name}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        return np.load(path)["features"], {"cached": str(path)}
    images = data.all_images(n, seed=REFERENCE_SEED)
    feats, _ = _features(extractor, images.split(batch))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, features=feats)
    return feats, {"cached": str(path) if path is not None else None}


@torch.no_grad()
def _generate(run, n: int, batch: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    n_classes = getattr(run.G, "n_classes", 0)
    latents = torch.randn(n, run.G.dim_z, generator=gen)  # drawn at once: the samples do not depend on the batch size
    for start in range(0, n, batch):
        size = min(batch, n - start)
        y = (torch.arange(start, start + size) % n_classes) if n_classes else None
        yield run.G(latents[start : start + size], y).clamp(-1, 1)


def evaluate(
    path: Path | str,
    *,
    plugins: Plugins | None = None,
    extractor: str = "auto",
    n_samples: int = 2000,
    n_reference: int = 10000,
    batch_size: int = 100,
    inception_weights: str | None = None,
    cache_dir: Path | str | None = _DEFAULT_CACHE_DIR,
    seed: int = 0,
) -> dict:
    """Metrics of the run (directory or checkpoint) at ``path``; also written to ``eval.json``."""
    run = load_run(path, plugins)
    if not hasattr(run.data, "all_images"):  # load_run stood in for a dataset that is not on this machine
        spec = run.recipe.data
        raise MaskforgeError(
            f"eval compares with the run's training images, but dataset {spec.name!r} is not found at {spec.root or '(no root)'}; "
            "put it there (the run's recipe.json names the root) and run eval again"
        )
    ex = make_extractor(extractor, dataset=run.recipe.data.name, weights=inception_weights)
    real, ref_info = _reference(ex, run.data, run.recipe.data, n_reference, batch_size, Path(cache_dir) if cache_dir else None)
    fake, logits = _features(ex, _generate(run, n_samples, batch_size, seed))
    mu_r, sig_r = statistics(real)
    mu_f, sig_f = statistics(fake)
    kid, kid_std = kernel_inception_distance(real, fake, subset_size=min(1000, len(real), len(fake)))
    results = {
        "fid": frechet_distance(mu_r, sig_r, mu_f, sig_f),
        "kid": kid, "kid_std": kid_std,
        **prdc(real[:PRDC_MAX], fake[:PRDC_MAX], k=5),
    }
    if logits is not None:
        results["is"], results["is_std"] = inception_score(logits)
    step = int(run.state["progress"]["step"])
    report = {
        "metrics": results,
        "provenance": {
            **ex.provenance,
            "checkpoint": str(run.path), "step": step,
            "generator": "averaged (EMA/SEMA) weights" if "averager" in run.state else "training weights",
            "n_generated": len(fake), "n_reference": len(real),
            "reference": f"{run.data.name} training images at {run.data.resolution}x{run.data.resolution}",
            "reference_cache": ref_info["cached"], "prdc_k": 5, "prdc_samples": {"reference": min(PRDC_MAX, len(real)), "generated": min(PRDC_MAX, len(fake))},
            "reference_subset": f"seeded random subset (seed {REFERENCE_SEED})" if len(real) < len(run.data) else "every training image",
            "kid": "unbiased MMD^2, cubic polynomial kernel, 10 subsets",
            "seed": seed,
        },
    }
    out = run.path.parent.parent if run.path.parent.name == "checkpoints" else run.path.parent
    (out / "eval.json").write_text(json.dumps(report, indent=2))
    return report
