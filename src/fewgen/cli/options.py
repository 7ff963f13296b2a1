"""The command line's shared option types and the parsers of their text (imported by :mod:`fewgen.cli` and
:mod:`fewgen.cli.fit_predict`)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from fewgen.baselines import BASELINES
from fewgen.configs import StudentConfig, option_help
from fewgen.students import STUDENTS
from fewgen.errors import FewgenError, FewgenWarning

if TYPE_CHECKING:
    from fewgen.backbones import FeatureSpec


def ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise FewgenError(f"{option} takes comma-separated whole numbers like 1,2,4, got '{text}'") from None
    if not values:
        raise FewgenError(f"{option} is empty; give comma-separated whole numbers like 1,2,4")
    return values


def validation(text: str) -> int | str:
    """``--val-per-class``: auto, cv or a whole number (checked where the draws are made)."""
    text = text.strip().lower()
    return int(text) if text.isdigit() else text


def names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def alternatives(text: str, option: str, convert=str) -> list[tuple]:
    """``a+b,c`` -> ``[(a, b), (c,)]``: commas separate alternatives, ``+`` joins what is concatenated."""
    try:
        return [tuple(convert(v.strip()) for v in item.split("+") if v.strip()) for item in text.split(",") if item.strip()]
    except ValueError:
        raise FewgenError(f"{option} takes values like 50,350 or 50+350, got '{text}'") from None


def feature_specs(parts: str, timesteps: str, blocks: str, pool: str, weights: str, noise_draws: int = 1,
                  combine: str = "concat") -> list[FeatureSpec] | None:
    """Feature specs from the evaluate options; None means the run's default (``select``'s choice, else the
    backbone's default spec). An empty ``pool`` is not given (mean where another option is); ``mean`` given alone
    asks for the global average."""
    from fewgen.backbones import FeatureSpec

    if parts and (timesteps or blocks):
        raise FewgenError("--parts is for the vae and vqvae, --timesteps/--blocks for the ddpm; give one or the other")
    if noise_draws < 1:
        raise FewgenError(f"--noise-draws must be at least 1, got {noise_draws}")
    if combine not in ("concat", "mean"):
        raise FewgenError(f"--combine must be concat or mean, got '{combine}'")
    reading = {"noise_draws": None if noise_draws == 1 else noise_draws, "combine": None if combine == "concat" else combine}
    if not (parts or timesteps or blocks or pool or weights or any(reading.values())):
        return None
    pool = pool or "mean"
    if parts:
        return [FeatureSpec(part=p, pool=pool, weights=weights or None, **reading) for p in names(parts)]
    t_options = alternatives(timesteps, "--timesteps", int) or [None]
    b_options = alternatives(blocks, "--blocks") or [None]
    return [FeatureSpec(layers=b, timestep=t, pool=pool, weights=weights or None, **reading)
            for t in t_options for b in b_options]


def key_values(pairs: list[str], option: str = "--option") -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise FewgenError(f"{option} takes KEY=VALUE, got '{pair}'")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def baseline_configs(pairs: list[str], shortcuts: dict[tuple[str, str], Any] | None = None) -> dict[str, Any]:
    """Each named baseline's ``Config`` from ``--baseline-option NAME.KEY=VALUE`` strings, plus the shortcut options
    (``{("resnet18", "steps"): 400}``; None = not given). A setting given both ways is one sentence."""
    from fewgen.baselines import get_baseline

    settings: dict[str, dict[str, str]] = {}
    for key, value in key_values(pairs, "--baseline-option").items():
        name, dot, setting = key.partition(".")
        if not dot or not setting:
            raise FewgenError(f"--baseline-option takes NAME.KEY=VALUE (e.g. resnet18.steps=400), got '{key}={value}'")
        settings.setdefault(name, {})[setting] = value
    for (name, setting), value in (shortcuts or {}).items():
        if value is None:
            continue
        if setting in settings.get(name, {}):
            entry = get_baseline(name)
            raise FewgenError(f"{entry.flag(setting)} and --baseline-option {name}.{setting} both set it; give one")
        settings.setdefault(name, {})[setting] = str(value)
    return {name: get_baseline(name, "--baseline-option").config(values) for name, values in settings.items()}


def student_config(pairs: list[str]):
    """The students' ``StudentConfig`` from ``--student-option KEY=VALUE`` strings (defaults elsewhere)."""
    from fewgen.configs import StudentConfig, config_from_options

    return config_from_options(StudentConfig, key_values(pairs, "--student-option"), "--student-option ")


DataRoot = Annotated[Optional[Path], typer.Option(help="Folder holding the dataset in torchvision's layout. Default: ~/.cache/fewgen/datasets.")]
Labels = Annotated[Optional[Path], typer.Option(help="folder: data: a CSV of path,label rows (paths relative to the folder) that labels images of its unlabeled/ folder, beside labeled/<class>/.")]
Download = Annotated[bool, typer.Option(help="Let torchvision download the dataset into --data-root (needs internet).")]
Shots = Annotated[str, typer.Option(help="Labeled images per class, comma-separated.")]
Seeds = Annotated[int, typer.Option(help="Number of seeded labeled draws per shots value (seeds 0..N-1).")]
Heads = Annotated[str, typer.Option(help="Heads on the backbone's features, comma-separated: linear, mlp, logreg, knn, "
                                          "attention (the DBG paper's transformer over the ddpm's spatial tokens: give --spatial-pool KxK) "
                                          "(the labeled draw only), or umap, selftrain, propagate (which also learn from the "
                                          "unlabeled pool: the train split minus the validation draw). The default adds propagate, the head Fashion-MNIST's "
                                          "validation draw chose at k >= 2 on the ddpm's features, to the labeled-only ones.")]
Baselines = Annotated[str, typer.Option(help="Baselines on the same draws, comma-separated: " + "; ".join(
    f"{entry.name} ({entry.summary})" for entry in BASELINES.values()) + ". Empty for none.")]
BaselineOptions = Annotated[list[str], typer.Option("--baseline-option", "-B", help="A baseline's setting NAME.KEY=VALUE (repeatable), e.g. resnet18.steps=400; 'fewgen baselines' lists each baseline's settings, defaults and what they do.")]
PixelHead = Annotated[str, typer.Option(help="Head for the raw-pixels baseline.")]
Scaling = Annotated[str, typer.Option(help="How heads standardise backbone features: feature (per feature) or global (centre, one common scale).")]
PixelScaling = Annotated[str, typer.Option(help="How the raw-pixels head standardises (global was chosen on the validation draw).")]
Validation = Annotated[str, typer.Option("--val-per-class", help="Validation, the only thing selection reads: N labeled images per class in a fixed draw held out of every labeled draw and of the pool; cv: k-fold cross-validation over the labeled images (seed s is drawn outside fold s mod k and scored on it); auto: 16 per class when every class has 16 + the largest --shots, else cv.")]
ValPerClass = Annotated[int, typer.Option(help="Validation draw: labeled images per class held out of every labeled draw; only this is used for selection.")]
ResnetSteps = Annotated[int, typer.Option(help="ResNet-18 baseline budget: AdamW steps (fixed in advance, never tuned on test).")]
Progress = Annotated[bool, typer.Option(help="Show progress bars.")]
Precision = Annotated[str, typer.Option(help="auto (bf16 where the hardware runs it natively, else fp32), bf16, or fp32.")]
FeaturePrecision = Annotated[str, typer.Option("--precision", help="Arithmetic for feature extraction: auto (fp32 on every CPU, so that every CPU kind gives the same answer; bf16 on a GPU that has it), bf16, fp32.")]
ImageSize = Annotated[Optional[int], typer.Option(help="folder: data: side of the square images, 8 to 256 (default: the labeled images' median shorter side, at most 64).")]
Resize = Annotated[str, typer.Option(help="folder: data: crop (keep the aspect ratio: shorter side, then the centre, as torchvision's Resize + CenterCrop) or stretch.")]
RunBackbone = Annotated[Optional[str], typer.Option(help="Backbone the run must hold (a check); default: whatever it holds.")]
Students = Annotated[str, typer.Option(help="Students on the same draws, comma-separated, each taught by a head on the frozen features and learning from the labels and the pool: " + "; ".join(
    f"{entry.name} ({entry.summary})" for entry in STUDENTS.values()) + ". Empty for none; they cost minutes per draw on a CPU (-S steps=N).")]
Teacher = Annotated[str, typer.Option(help="The students' teacher: one of --heads, or auto (per k, the spec and head best on validation).")]
StudentOptions = Annotated[list[str], typer.Option("--student-option", "-S", help="A students' setting KEY=VALUE (repeatable): " + "; ".join(
    f"{name} ({default}): {text}" for name, default, text in option_help(StudentConfig)))]


OldPool = Annotated[Optional[str], typer.Option("--pool", hidden=True, help="The old spelling of --spatial-pool.")]


def spatial_pool_of(spatial_pool: str, old_pool: str | None) -> str:
    """``--spatial-pool``, or the value of its old spelling ``--pool`` with a warning ("the pool" is the unlabeled
    images everywhere else in fewgen)."""
    if old_pool is None:
        return spatial_pool
    warnings.warn("--pool is now spelled --spatial-pool (\"the pool\" is the unlabeled images); "
                  f"read as --spatial-pool {old_pool}", FewgenWarning, stacklevel=2)
    return old_pool
