"""The sparsity core: masks, selection, allocation, scores, pruners, growers, schedules,
averagers and the engine that keeps a model's masked entries at zero.

Nothing here imports from the layers above it (storage, plugin system, strategies, runs,
metrics, CLI): this is the algebra, usable on its own with any model and optimizer.
"""
