"""What ``fewgen evaluate`` runs: labels per class, seeds, heads, baselines and their budgets, students and their
teacher, and the validation protocol, each checked before any work (one sentence for the first thing wrong,
including options that would do nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fewgen.baselines import BASELINES, DEFAULT_BASELINES, get_baseline
from fewgen.configs import StudentConfig
from fewgen.errors import FewgenError
from fewgen.heads import HEADS
from fewgen.heads.scaling import SCALINGS
from fewgen.students import get_student


@dataclass
class EvalConfig:
    """What to evaluate: labels per class, seeds 0..seeds-1, heads, baselines (names in the registry of
    :mod:`fewgen.baselines`, each with its ``Config`` in ``baseline_configs``, else its defaults), validation size."""

    shots: tuple[int, ...] = (1, 2, 5, 10)
    seeds: int = 5
    heads: tuple[str, ...] = ("mlp", "logreg", "knn", "propagate")  # propagate: the validation choice at k >= 2 (docs/DECISIONS.md)
    baselines: tuple[str, ...] = DEFAULT_BASELINES
    pixel_head: str = "logreg"
    scaling: str = "feature"  # how heads on backbone features standardise: feature | global
    pixel_scaling: str = "global"  # chosen on the validation draw (docs/DECISIONS.md)
    val_per_class: int | str = "auto"  # a fixed draw of N per class, "cv", or "auto" (data/splits.Draws.make)
    baseline_configs: dict[str, Any] = field(default_factory=dict)  # name -> that baseline's Config
    transductive: bool = False  # pool heads also see the test images, unlabeled (rows say data=test)
    students: tuple[str, ...] = ()  # names in the registry of fewgen.students, run after the heads
    teacher: str = "auto"  # the students' teacher: a head of ``heads``, or auto (per k, the validation-best head)
    student_config: StudentConfig = field(default_factory=StudentConfig)
    redo: bool = False  # compute rows already in results.jsonl again (else a rerun continues: fewgen.resume)
    budgets: tuple[int, ...] = ()  # labels in all, chosen by each of ``selections`` (fewgen.chosen_draws), instead of shots
    selections: tuple[str, ...] = ()
    progress: bool = True

    def check(self) -> None:
        for name in (*self.heads, self.pixel_head):
            if name not in HEADS:
                raise FewgenError(f"unknown head '{name}' in --heads; use some of: {', '.join(HEADS)}")
        for name in self.baselines:
            get_baseline(name)
        for option, value in (("--scaling", self.scaling), ("--pixel-scaling", self.pixel_scaling)):
            if value not in SCALINGS:
                raise FewgenError(f"{option} must be one of {', '.join(SCALINGS)}, got '{value}'")
        if self.seeds < 1:
            raise FewgenError(f"--seeds must be at least 1, got {self.seeds}")
        if self.val_per_class == 0:
            raise FewgenError("--val-per-class 0 leaves no validation draw, so no head, candidate or teacher can be "
                              "chosen; give N >= 1, cv, or auto")
        for name in dict.fromkeys([*self.baselines, *self.baseline_configs]):
            entry = get_baseline(name, "--baseline-option")
            if entry.where:
                self.baseline_config(name).check(entry.flag, self.seeds)
            if name not in self.baselines:
                raise FewgenError(f"settings are given for the {name} baseline (--baseline-option {name}.KEY=VALUE or a "
                                  f"shortcut such as --{name.replace('18', '')}-steps), which is not among --baselines "
                                  f"({', '.join(self.baselines) or 'none'}); add {name} to --baselines or drop them")
        self.check_students()
        self.check_selections()

    def check_selections(self) -> None:
        """The benchmark protocol for chosen labels: budgets and selections go together."""
        from fewgen.chosen_draws import check_selection

        if self.selections and not self.budgets:
            raise FewgenError("--selection chooses the labeled images of --budgets; add --budgets B1,B2,... (labels in all)")
        if self.budgets and not self.selections:
            raise FewgenError("--budgets needs --selection (for example random,balanced,typiclust)")
        for budget in self.budgets:
            if budget < 1:
                raise FewgenError(f"--budgets must be at least 1, got {budget}")
        for selection in self.selections:
            check_selection(selection)

    def check_students(self) -> None:
        """The students, their teacher and their budget: one sentence for the first thing wrong."""
        for name in self.students:
            get_student(name)
        if not self.students:
            if self.student_config != StudentConfig():
                raise FewgenError("--student-option is given, and no --students to train with it; add --students small "
                                  "(or encoder), or drop --student-option")
            return
        if self.teacher != "auto" and self.teacher not in self.heads:
            raise FewgenError(f"--teacher {self.teacher} is not among --heads ({', '.join(self.heads) or 'none'}); the "
                              "teacher is one of the heads evaluated, or auto (per k, the head best on validation)")
        if not self.heads:
            raise FewgenError("--students need a teacher among --heads, and --heads is empty")
        if self.transductive:
            raise FewgenError("--students learn from the pool, never from the test images; drop --transductive")
        self.student_config.check(lambda key: f"--student-option {key}", self.seeds)
        self.warn_unequal_compute()

    def warn_unequal_compute(self) -> None:
        """FixMatch or MixMatch on the student's network (``network=small``) is read as the student's equal-compute
        peer; say so when its steps, batch or learning rate differ from the student's (their default batch of 32
        labeled images a step is twice the student's 16)."""
        import warnings

        from fewgen.errors import FewgenWarning

        for name in ("fixmatch", "mixmatch"):
            config = self.baseline_config(name) if name in self.baselines else None
            if config is None or getattr(config, "network", None) != "small":
                continue
            student = self.student_config
            differ = [key for key in ("steps", "batch_size", "lr") if getattr(config, key) != getattr(student, key)]
            if differ:
                warnings.warn(f"{name} on the student's network is not at equal compute: "
                              + "; ".join(f"{key} {getattr(config, key)} against the student's {getattr(student, key)}" for key in differ)
                              + "; give " + " ".join(f"-B {name}.{key}={getattr(student, key)}" for key in differ) + " to match",
                              FewgenWarning, stacklevel=2)

    def baseline_config(self, name: str) -> Any:
        """The ``Config`` of trained baseline ``name``: the one given, else its defaults."""
        if name in self.baseline_configs:  # (never stored here: the settings given are only those the user gave)
            return self.baseline_configs[name]
        return BASELINES[name].config()
