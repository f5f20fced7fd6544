"""checkpoint.load: files written by save_atomic and plain torch.save files, on any map_location."""

import torch

from maskforge.storage.checkpoint import load, save_atomic


def test_plain_and_wrapped_files_load_onto_the_requested_device(tmp_path):
    plain, wrapped = tmp_path / "plain.pt", tmp_path / "wrapped.pt"
    torch.save({"w": torch.arange(3.0)}, plain)  # e.g. a pretrained state dict
    save_atomic({"w": torch.arange(3.0)}, wrapped)
    for path in (plain, wrapped):
        assert torch.equal(load(path)["w"], torch.arange(3.0))
        moved = load(path, map_location="meta")["w"]
        assert moved.device.type == "meta" and moved.shape == (3,)
