"""What an evaluation runs is checked before any work; a peer that claims the student's network but not its compute
is named."""

from __future__ import annotations

import warnings

import pytest

from fewgen.configs import FixMatchConfig, MixMatchConfig
from fewgen.errors import FewgenWarning
from fewgen.eval_config import EvalConfig


def test_fixmatch_on_the_students_network_at_another_batch_is_named():
    cfg = EvalConfig(students=("small",), heads=("logreg",), baselines=("fixmatch",),
                     baseline_configs={"fixmatch": FixMatchConfig(network="small", steps=1000, lr=2e-3)})
    with pytest.warns(FewgenWarning, match=r"fixmatch on the student's network is not at equal compute: batch_size 32 "
                                           r"against the student's 16; give -B fixmatch.batch_size=16 to match"):
        cfg.check()


def test_equal_compute_or_another_network_says_nothing():
    equal = MixMatchConfig(network="small", steps=1000, batch_size=16, lr=2e-3)
    for cfg in (EvalConfig(students=("small",), heads=("logreg",), baselines=("mixmatch",), baseline_configs={"mixmatch": equal}),
                EvalConfig(students=("small",), heads=("logreg",), baselines=("fixmatch",))):  # resnet18: no claim
        with warnings.catch_warnings():
            warnings.simplefilter("error", FewgenWarning)
            cfg.check()
