"""Images read from files on demand: tensor-like indexing, batches decoded by DataLoader workers, and a folder
pipeline (pretrain, evaluate) that never decodes more than a batch at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fewgen.cli import main
from fewgen.data.files import ImageFiles, image_batches
from fewgen.data.preprocess import Preprocess
from fewgen.errors import FewgenError


def write_images(folder, n: int, size=(10, 12), seed=0) -> list:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        paths.append(folder / f"{i:04d}.png")
        Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)).save(paths[-1])
    return paths


def test_image_files_index_like_a_uint8_tensor(tmp_path):
    paths = write_images(tmp_path, 7)
    files = ImageFiles(paths, Preprocess("L", (10, 12)))
    memory = torch.stack([torch.from_numpy(np.array(Image.open(p)))[None] for p in paths])  # [7, 1, 12, 10]
    assert files.shape == memory.shape == (7, 1, 12, 10) and len(files) == 7 and files.dtype == torch.uint8
    assert torch.equal(files[3], memory[3]) and torch.equal(files[2:5], memory[2:5]) and torch.equal(files[0, 0], memory[0, 0])
    index = torch.tensor([6, 0, 3])
    assert torch.equal(files[index], memory[index]) and torch.equal(files.take(index.numpy())[1:], memory[index][1:])
    assert files[[]].shape == (0, 1, 12, 10)


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_from_files_equal_batches_from_memory(tmp_path, workers):
    paths = write_images(tmp_path, 23)
    files = ImageFiles(paths, Preprocess("RGB", (8, 8)))  # converted and resized on the way, as a folder source asks
    memory = files[:]
    order = np.random.default_rng(1).permutation(23)[:17]
    from_files = list(image_batches(files, order, batch_size=5, workers=workers))
    assert [len(b) for b in from_files] == [5, 5, 5, 2]
    assert torch.equal(torch.cat(from_files), memory[torch.as_tensor(order)])
    assert torch.equal(torch.cat(list(image_batches(memory, order, batch_size=5))), memory[torch.as_tensor(order)])


def test_a_broken_file_found_by_a_worker_is_one_sentence(tmp_path):
    paths = write_images(tmp_path, 6)
    paths[4].write_bytes(paths[4].read_bytes()[:40])
    with pytest.raises(FewgenError) as caught:
        list(image_batches(ImageFiles(paths, Preprocess("L", (10, 12))), batch_size=2, workers=2))
    assert str(caught.value).startswith(f"cannot read image {paths[4]}") and "Traceback" not in str(caught.value)


def test_a_folder_run_decodes_one_batch_at_a_time(tmp_path, monkeypatch):
    """Pretrain and evaluate on a folder: no step asks ImageFiles for more than a batch of decoded images
    (workers decode one image at a time; indexing is for small labeled draws and prediction batches)."""
    for c in range(2):
        write_images(tmp_path / "imgs" / "labeled" / f"c{c}", 6, seed=c)
        write_images(tmp_path / "imgs" / "test" / f"c{c}", 5, seed=10 + c)
    write_images(tmp_path / "imgs" / "unlabeled", 300, seed=20)
    largest = []
    getitem = ImageFiles.__getitem__

    def counting(self, index):
        out = getitem(self, index)
        largest.append(len(out) if out.ndim == 4 else 1)
        return out

    monkeypatch.setattr(ImageFiles, "__getitem__", counting)
    run, data = tmp_path / "run", f"folder:{tmp_path / 'imgs'}"
    assert main(["pretrain", "--run", str(run), "--data", data, "-o", "channels=8", "-o", "latent_dim=4", "--epochs", "1",
                 "--batch-size", "64", "--workers", "2", "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--shots", "1,2", "--seeds", "2", "--val-per-class", "2", "--heads", "logreg,propagate",
                 "--baselines", "pixels", "--no-progress"]) == 0
    assert max(largest) <= 32  # reconstructions.png shows 32 images; nothing else reads more than a draw
    assert (run / "results.jsonl").read_text().count('"head": "propagate"') == 3 * 2 * 2  # 3 VAE specs, k = 1, 2, 2 seeds
