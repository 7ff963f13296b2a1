"""The students' registry: networks trained on the images of each draw and the pool, taught by a fewgen method.

A student learns from the labeled draw (its hard labels) and from the draw's pool (the train split minus the
validation set), whose targets come from a *teacher*: a head on the backbone's frozen features, fitted on the same
draw (a pool head also on the pool's features), chosen on validation. As training goes, the student's own confident
predictions on weak views replace the teacher's targets on strong views (FixMatch's consistency, Sohn et al. 2020);
further rounds train a fresh student on the last one's predictions (Noisy Student, Xie et al. 2020). This is
SimCLRv2's "pretrain, fine-tune, distil" with a generative model as the pretraining (Chen et al. 2020).

It imports no torch, so that ``--students`` help is made from it at once. Each entry names its network:

- ``small``: a compact CNN from scratch (:class:`fewgen.networks.SmallCNN`);
- ``encoder``: the backbone's own image-to-feature path for the teacher's feature spec, initialised from the
  pretrained weights and fine-tuned with a linear layer (the VAE's encoder, the ALAE's E, the DDPM's UNet up to
  the chosen blocks at the chosen t); a backbone without trained weights (pixels) has none.

Adding a student is one network in :mod:`fewgen.networks` plus one line in :data:`REGISTERED`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fewgen.errors import FewgenError


@dataclass(frozen=True)
class StudentEntry:
    """A registry entry: the student's ``name`` (its rows' head is ``student-NAME``), one line of help, and whether its
    network is the backbone's own (so the backbone must have trained weights)."""

    name: str
    summary: str
    from_backbone: bool = False

    @property
    def head(self) -> str:
        """The ``head`` of the student's result rows."""
        return f"student-{self.name}"


REGISTERED = (
    StudentEntry("small", "a compact CNN trained from scratch"),
    StudentEntry("encoder", "the backbone's own image-to-feature path, from its pretrained weights, with a linear layer",
                 from_backbone=True),
)
STUDENTS: dict[str, StudentEntry] = {entry.name: entry for entry in REGISTERED}


def get_student(name: str, option: str = "--students") -> StudentEntry:
    """The entry called ``name``; an unknown name is one sentence that lists the known ones."""
    if name not in STUDENTS:
        raise FewgenError(f"unknown student '{name}' in {option}; use some of: {', '.join(STUDENTS)}")
    return STUDENTS[name]
