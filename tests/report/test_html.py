"""End to end: `fewgen demo` (tiny settings) from pretraining to report.html; the page, its numbers, and a render."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fewgen.cli import main
from fewgen.evaluate import method_name
from fewgen.stats import mean_ci


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("demo") / "run"
    assert main(["demo", "--run", str(run), "--epochs", "1", "--seeds", "2", "--resnet-steps", "3", "--no-progress"]) == 0
    return run


class Page(HTMLParser):
    """The page's images, table cells carrying numbers, and any script or remote reference."""

    def __init__(self, text: str):
        super().__init__()
        self.images, self.cells, self.remote, self.scripts = [], [], [], 0
        self._cell: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.scripts += tag == "script"
        self.remote += [v for k, v in attrs.items() if k in ("src", "href") and v and re.match(r"^(https?:)?//", v)]
        if tag == "img":
            self.images.append(attrs)
        if tag == "td" and "data-mean" in attrs:
            self._cell = dict(attrs, text="")

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None


def test_demo_ends_by_writing_the_report(demo_run, capsys):
    page = demo_run / "report" / "report.html"
    assert page.is_file()
    html = Page(page.read_text())
    assert not html.remote and html.scripts == 0  # self-contained, readable without JavaScript
    # accuracy curves; 2-D and 3-D UMAP of the VAE and of raw pixels; samples and reconstructions; the images to label
    assert len(html.images) == 1 + 4 + 2 + 1
    for image in html.images:
        assert image["src"].startswith("data:image/png;base64,") and len(image["src"]) > 2000
        assert len(image["alt"]) > 40  # says what the figure shows
    written = {p.name for p in (demo_run / "report").glob("*.png")}
    assert {"accuracy-digits.png", "samples-run.png", "reconstructions-run.png", "suggested-run.png"} <= written
    assert len(written) == 8
    assert "Images to label" in page.read_text() and "chosen by typiclust" in page.read_text()


def test_every_number_in_the_tables_is_the_mean_of_its_rows(demo_run):
    rows = [json.loads(line) for line in (demo_run / "results.jsonl").read_text().splitlines()]
    cells = Page((demo_run / "report" / "report.html").read_text()).cells
    methods = {c["data-method"] for c in cells}
    assert {"resnet18", "pixels+logreg(scaling=global)"} <= methods and any(m.startswith("vae[") for m in methods)
    for cell in cells:
        values = [r["accuracy"] for r in rows if method_name(r) == cell["data-method"] and r["shots"] == int(cell["data-shots"])]
        mean, half = mean_ci(values)
        assert len(values) == int(cell["data-n"]) == 2
        assert float(cell["data-mean"]) == pytest.approx(mean, abs=1e-12)
        assert cell["text"].strip() == f"{100 * mean:.1f} ± {100 * half:.1f}"


def test_the_page_says_what_each_head_was_fitted_on(demo_run):
    text = (demo_run / "report" / "report.html").read_text()
    assert '<td class="data">pool</td>' in text and '<td class="data">labeled</td>' in text
    rows = [json.loads(line) for line in (demo_run / "results.jsonl").read_text().splitlines()]
    assert {r["head"] for r in rows if r["data"] == "pool"} == {"umap", "selftrain", "propagate"}


def test_the_page_names_the_crossover_and_provenance(demo_run):
    text = (demo_run / "report" / "report.html").read_text()
    config = json.loads((demo_run / "config.json").read_text())
    assert "crossover points against resnet18" in text and "beats resnet18 at every k up to" in text
    assert config["checkpoint"] in text and "fewgen 0.1.0" in text
    assert "the vae backbone has no diffusion timestep to sweep" in text


def test_a_run_with_missing_parts_says_what_is_missing(demo_run, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(demo_run, bare, ignore=shutil.ignore_patterns("report", "umap", "features", "*.png"))
    (bare / "results.jsonl").unlink()
    assert main(["report", str(bare), "--out", str(tmp_path / "out"), "--no-umap"]) == 0
    text = (tmp_path / "out" / "report.html").read_text()
    assert "no evaluation rows yet; run &#39;fewgen evaluate" in text
    assert "wrote no sample or reconstruction grid" in text
    assert "UMAP projections were switched off" in text


def test_umap_needs_the_cached_test_features(demo_run, tmp_path):
    stripped = tmp_path / "stripped"
    shutil.copytree(demo_run, stripped, ignore=shutil.ignore_patterns("report", "features"))
    assert main(["report", str(stripped), "--umap-points", "100"]) == 0
    text = (stripped / "report" / "report.html").read_text()
    assert "no cached test features" in text and text.count("data:image/png") == 4  # curves, pictures, suggestions


def test_the_umap_projections_are_cached_in_the_run(demo_run):
    cached = sorted((demo_run / "umap").glob("umap-*.npy"))
    assert len(cached) == 4  # 2-D and 3-D, for the VAE and for pixels
    before = {p: p.stat().st_mtime_ns for p in cached}
    assert main(["report", str(demo_run), "--out", str(demo_run / "again")]) == 0
    assert {p: p.stat().st_mtime_ns for p in sorted((demo_run / "umap").glob("umap-*.npy"))} == before


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_renders_in_headless_chromium(demo_run, tmp_path):
    browser = chromium()
    if browser is None:
        if os.environ.get("FEWGEN_REQUIRE_CHROMIUM"):
            pytest.fail("FEWGEN_REQUIRE_CHROMIUM is set but no chromium is installed")
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    shot = tmp_path / "page.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2400",
                    f"--screenshot={shot}", (demo_run / "report" / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1280)
    not_white = (pixels < 235).any(axis=2)
    assert not_white.mean() > 0.05  # text, curves, tables and scatter plots, not an empty page
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # the coloured figures rendered
    assert not_white[:800].mean() > 0.05  # the curves are near the top, not pushed down by something broken


def test_runs_pretrained_in_chunks_get_their_validation_curve_against_minutes(tmp_path):
    runs = []
    for name, values in (("epsilon", [0.6, 0.7]), ("v", [0.65, 0.8])):
        run = tmp_path / name
        run.mkdir()
        chunks = [{"checkpoint": f"{name}{i}", "steps": 10 * (i + 1), "epochs": i + 1, "seconds": 600.0 * (i + 1)} for i in range(2)]
        (run / "config.json").write_text(json.dumps({"dataset": "digits", "backbone": "ddpm", "checkpoint": f"{name}1",
                                                     "pretrain_chunks": chunks}))
        rows = [{"stage": "select", "dataset": "digits", "backbone": "ddpm", "checkpoint": f"{name}{i}", "head": "logreg",
                 "spec": {"layers": ["up0"], "timestep": [50]}, "head_params": {}, "shots": 4, "seed": seed,
                 "accuracy": None, "val_accuracy": value + 0.01 * seed} for i, value in enumerate(values) for seed in range(2)]
        (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        runs.append(str(run))
    assert main(["report", *runs, "--out", str(tmp_path / "out"), "--no-umap"]) == 0
    text = (tmp_path / "out" / "report.html").read_text()
    assert "Validation accuracy vs pretraining time" in text and (tmp_path / "out" / "time-to-accuracy-digits.png").is_file()
    assert "epsilon, k=4: 70.5% after 20 min; v, k=4: 80.5% after 20 min" in text
