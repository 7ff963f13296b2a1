"""An optimizer's state in a checkpoint without pickle: its tensors flat for safetensors, the rest as JSON (what the
Trainer's checkpoints hold beside the model's weights)."""

from __future__ import annotations

import torch


def optimizer_to_tensors(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, meta)``: an optimizer's ``state_dict()`` as flat ``"PARAM.KEY"`` tensors for safetensors, and the
    param groups and non-tensor state (Adam's step count on some versions) as JSON."""
    tensors, scalars = {}, {}
    for pid, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """The ``state_dict()`` that :func:`optimizer_to_tensors` flattened, for ``load_state_dict``."""
    state: dict[int, dict] = {}
    for flat, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, key = flat.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}
