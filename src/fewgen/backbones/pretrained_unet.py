"""A diffusers ``UNet2DModel`` (and its scheduler's config) to start the DDPM from: a folder written by
``save_pretrained`` or a Hugging Face id, safetensors weights only (fewgen loads no pickle), and one sentence, without
diffusers' own log lines in front, when it cannot be loaded."""

from __future__ import annotations

from pathlib import Path

from diffusers import DDPMScheduler, UNet2DModel
from diffusers.utils import logging as diffusers_logging

from fewgen.errors import FewgenError


def pretrained_unet(source: str | Path, weights: bool = True) -> tuple[UNet2DModel, dict | None]:
    """The diffusers UNet at ``source`` (with its weights, or only its architecture) and its scheduler's config, if any.

    ``source`` is a pipeline (``unet/`` and ``scheduler/`` inside) or a bare UNet folder (``config.json``, weights,
    maybe ``scheduler_config.json``), on disk or as a Hugging Face id."""
    local = Path(source).is_dir()
    if local and not any((Path(source) / sub / "config.json").is_file() for sub in ("unet", ".")):
        raise FewgenError(f"{source} holds no diffusers UNet (no config.json in it or in unet/); "
                          "give a folder written by save_pretrained, or a Hugging Face id")
    subfolders = ["unet" if (Path(source) / "unet" / "config.json").is_file() else None] if local else ["unet", None]
    problem = None
    quiet = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # diffusers' own lines would come before fewgen's one sentence
    try:
        for subfolder in subfolders:
            try:
                if weights:  # safetensors only: a pickled .bin could run code, and fewgen loads no pickle
                    unet = UNet2DModel.from_pretrained(source, subfolder=subfolder, use_safetensors=True)
                else:
                    unet = UNet2DModel.from_config(UNet2DModel.load_config(source, subfolder=subfolder))
                break
            except (OSError, ValueError) as exc:
                problem = exc
        else:
            reason = str(problem).strip().splitlines()[0] if problem else "not found"
            raise FewgenError(f"could not load a diffusers UNet's safetensors weights from '{source}' ({reason}); give a "
                              "folder written by save_pretrained (safetensors; fewgen loads no pickled .bin), or a "
                              "Hugging Face id that this machine can reach or has cached")
    finally:
        diffusers_logging.set_verbosity(quiet)
    scheduler_sub = "scheduler" if subfolder == "unet" else None
    if local and not (Path(source) / (scheduler_sub or ".") / "scheduler_config.json").is_file():
        return unet, None
    try:
        return unet, DDPMScheduler.load_config(source, subfolder=scheduler_sub)
    except (OSError, ValueError):
        return unet, None
