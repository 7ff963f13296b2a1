"""Atomic writes: a reader never sees a half-written file, a failed write leaves the previous version, and what is
written gets the permissions of a plain file."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fewgen.atomic import append_jsonl, atomic_folder, atomic_path, save_npy, save_tensors, write_json, write_text


def test_a_failed_write_leaves_the_previous_version_and_no_temporary_file(tmp_path):
    target = tmp_path / "state.json"
    write_json(target, {"version": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"version": 2, "half')
            raise RuntimeError("the disk filled up")
    assert json.loads(target.read_text()) == {"version": 1} and sorted(os.listdir(tmp_path)) == ["state.json"]


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "weights.bin").write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []
    with atomic_folder(target) as tmp:
        (tmp / "weights.bin").write_bytes(b"whole")
    assert (target / "weights.bin").read_bytes() == b"whole" and os.listdir(tmp_path) == ["model"]


def test_each_writer_round_trips_what_it_wrote(tmp_path):
    write_text(tmp_path / "a" / "t.txt", "hello")  # the folder is made on the way
    save_npy(tmp_path / "x.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    save_tensors(tmp_path / "w.safetensors", {"w": torch.arange(4.0)[::2]}, {"note": "strided"})
    append_jsonl(tmp_path / "rows.jsonl", [{"i": 0}])
    append_jsonl(tmp_path / "rows.jsonl", [{"i": 1}, {"i": 2}])
    assert (tmp_path / "a" / "t.txt").read_text() == "hello"
    assert np.array_equal(np.load(tmp_path / "x.npy"), np.arange(6, dtype=np.float32).reshape(2, 3))
    assert torch.equal(load_file(tmp_path / "w.safetensors")["w"], torch.tensor([0.0, 2.0]))
    assert [json.loads(line)["i"] for line in (tmp_path / "rows.jsonl").read_text().splitlines()] == [0, 1, 2]


WRITER = """
import sys, itertools
import torch
from fewgen.atomic import save_tensors, write_json
target = sys.argv[1]
for i in itertools.count():
    write_json(target + '/state.json', {'i': i, 'payload': 'x' * 2_000_000})
    save_tensors(target + '/model.safetensors', {'w': torch.full((500_000,), float(i))}, {'i': str(i)})
    if i == 0:
        print('wrote', flush=True)
"""


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_sigkill_mid_write_leaves_whole_files(tmp_path, delay):
    """A process killed while it rewrites a JSON file and a safetensors checkpoint in a loop leaves each target
    whole (an earlier version, never a torn one): every write goes to a temporary file, then is renamed."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "wrote"
    time.sleep(delay)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    state = json.loads((tmp_path / "state.json").read_text())
    weights = load_file(tmp_path / "model.safetensors")["w"]
    assert len(state["payload"]) == 2_000_000 and weights.shape == (500_000,) and (weights == weights[0]).all()
    assert state["i"] >= int(weights[0]) >= state["i"] - 1  # the JSON is written first in each round



def test_safetensors_files_get_the_permissions_of_plain_files(tmp_path):
    """safetensors recreates its file with mode 0600; checkpoints must be readable like every other file."""
    save_tensors(tmp_path / "w.safetensors", {"w": torch.zeros(3)}, {})
    write_json(tmp_path / "c.json", {})
    modes = {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert len(modes) == 1 and modes.pop() & 0o044 == 0o666 & ~os.umask(os.umask(0)) & 0o044
