"""Running recipes: building the components, the adversarial and moment-matching loops,
outputs (metrics, samples, checkpoints) and resuming."""

from maskforge.runs.runner import run_recipe

__all__ = ["run_recipe"]
