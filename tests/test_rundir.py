"""The run folder: its lock, its config, the data options a run keeps, and opening a run that holds no backbone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from fewgen.data.sources import SourceOptions
from fewgen.errors import FewgenError
from fewgen.rundir import (CONFIG_FILE, LOCK_FILE, open_run, read_run_config, run_lock, save_sample_grid,
                           source_options_record, stored_source_options)

HOLDER = """
import sys, time
from pathlib import Path
from fewgen.rundir import run_lock
with run_lock(Path(sys.argv[1]), create=True):
    print('holding', flush=True)
    time.sleep(60)
"""


def test_a_second_writer_gets_one_sentence_naming_the_holder_and_the_lock_dies_with_it(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(FewgenError, match=rf"another fewgen command \(pid {holder.pid}\) is writing {run}"):
            with run_lock(run):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(run):  # the kernel dropped the killed holder's lock
        (run / "written").write_text("x")


def test_a_folder_made_for_a_command_that_wrote_nothing_is_removed(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with run_lock(run, create=True):
            raise RuntimeError("the command failed at once")
    assert not run.exists()
    with run_lock(run):  # without create, a missing folder is left to the command to report
        pass
    assert not run.exists()
    with run_lock(run, create=True):
        (run / CONFIG_FILE).write_text("{}")
    assert sorted(p.name for p in run.iterdir()) == sorted([CONFIG_FILE, LOCK_FILE])


def test_a_folder_without_config_is_not_a_run(tmp_path):
    with pytest.raises(FewgenError, match="is not a run folder .*run 'fewgen pretrain --run"):
        read_run_config(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"dataset": "digits"}))
    assert read_run_config(tmp_path) == {"dataset": "digits"}


def test_a_run_reads_its_data_as_it_was_pretrained_with_a_new_root_when_given(tmp_path):
    options = SourceOptions(data_root=tmp_path / "data", image_size=24, resize="stretch")
    record = source_options_record(options)
    assert json.loads(json.dumps(record)) == record  # it goes into config.json
    assert stored_source_options(record) == options
    moved = stored_source_options(record, SourceOptions(data_root=tmp_path / "moved", download=True))
    assert moved == SourceOptions(data_root=tmp_path / "moved", download=True, image_size=24, resize="stretch")
    assert stored_source_options({}).resize == "stretch"  # a run from before --resize stretched, and still reads so


def test_an_augment_run_is_not_opened_as_a_feature_run(tmp_path):
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"backbone": "cglo", "dataset": "digits"}))
    with pytest.raises(FewgenError, match="is a 'fewgen augment' run, which has no feature backbone"):
        open_run(tmp_path, None, None, "fp32")


def test_the_sample_grid_is_a_png_of_every_image(tmp_path):
    images = torch.zeros((6, 1, 8, 8), dtype=torch.uint8)
    images[::2] = 255
    path = save_sample_grid(images, tmp_path / "samples.png", nrow=3)
    with Image.open(path) as grid:
        assert grid.format == "PNG" and grid.width > grid.height  # 3 images across, 2 down


def test_source_options_check_themselves_so_the_api_and_the_cli_say_the_same(tmp_path, capsys):
    import fewgen
    from fewgen.cli import main

    with pytest.raises(FewgenError) as api:
        fewgen.pretrain(tmp_path / "api", "digits", image_size=0)
    assert main(["pretrain", "--run", str(tmp_path / "cli"), "--image-size", "0", "--no-progress"]) == 2
    assert str(api.value) in capsys.readouterr().err and "between 8 and 256, got 0" in str(api.value)
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()
    with pytest.raises(FewgenError, match=r"resize policy \(--resize\) must be one of crop, stretch, got 'squash'"):
        SourceOptions(resize="squash")
    with pytest.raises(FewgenError, match="whole number of pixels"):
        SourceOptions(image_size=31.5)
    with pytest.raises(TypeError):
        SourceOptions(Path("positional"))  # keyword-only: no silent mix-up of root, download and size
