"""Files: atomic, hash-verified, ``weights_only`` checkpoints and the lossless compact format
of sparse state dicts."""
