"""The Python API in a few lines, with the objects the CLI uses::

    import fewgen

    fewgen.pretrain("runs/parts", "folder:photos", backbone="vae", epochs=20)   # photos/labeled/<class>/, photos/unlabeled/
    classifier = fewgen.fit("runs/parts", "models/parts")                        # the validation-chosen head, saved
    classifier = fewgen.load_classifier("models/parts")                         # later, elsewhere
    classifier.predict(["new/0001.jpg"]), classifier.predict_proba(pil_images), classifier.classes_
"""

from __future__ import annotations

from pathlib import Path

from fewgen.classifier import Classifier, load_classifier
from fewgen.data.sources import SourceOptions
from fewgen.fitting import fit_classifier
from fewgen.train import TrainConfig


def pretrain(run: str | Path, data: str, backbone: str = "vae", epochs: int = 20, batch_size: int = 128, lr: float = 1e-3,
             seed: int = 0, options: dict[str, str] | None = None, image_size: int | None = None, resize: str = "crop",
             data_root: str | Path | None = None, progress: bool = False) -> dict:
    """Pretrain ``backbone`` on ``data``'s unlabeled images into the run folder ``run``; returns its config."""
    from fewgen.commands import pretrain as run_pretrain

    train = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    source = SourceOptions(data_root=data_root, image_size=image_size, resize=resize)
    return run_pretrain(Path(run), data, backbone, dict(options or {}), train, source)


def fit(run: str | Path, out: str | Path, shots: int | None = None, seed: int = 0, head: str | None = None) -> Classifier:
    """The run's final classifier, fitted on its labeled images and saved to the model folder ``out``."""
    return fit_classifier(Path(run), Path(out), shots, seed, head)


__all__ = ["Classifier", "fit", "load_classifier", "pretrain"]
