"""The heads pass scikit-learn's own estimator checks (where they apply)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from fewgen.heads import HEADS, AttentionHead, LogRegHead

# Every head follows sklearn.semi_supervised's convention that y == -1 marks an unlabeled row, so the one check that
# uses -1 as a class label does not apply; scikit-learn exempts its own semi-supervised classifiers from it by name
# (estimator_checks._choose_check_classifiers_labels). tests/heads/test_heads.py checks the convention itself.
# The UMAP-space heads (umap, and selftrain/propagate with space='umap') are left out: many checks fit 1 to 10 rows,
# which UMAP refuses (a pool no larger than its neighbourhood is a clear error), and each check refits UMAP (the
# whole list took 8 minutes). Their behaviour is tested in tests/heads/test_semi.py.
MINUS_ONE_IS_UNLABELED = {"check_classifiers_classes": "y == -1 marks an unlabeled row (sklearn.semi_supervised's convention)"}


NEEDS_A_POOL = {"umap"}  # works in UMAP space only: see above
QUICKER = {"linear": {"max_iter": 100}, "mlp": {"max_iter": 100}, "attention": {"max_iter": 20}}  # fewer epochs: the checks fit many times
ESTIMATORS = [cls(**QUICKER.get(name, {})) for name, cls in HEADS.items() if name not in NEEDS_A_POOL]


# The attention head reads a block's spatial tokens (a token_layout); given none, the whole row is one token, and the
# LayerNorm over that token's channels (DBG's, over a block's 16 to 256 channels) leaves the checks' 2-feature blobs
# only the sign of x1 - x2, so the training-accuracy check does not apply. tests/heads/test_attention.py checks that
# it learns from tokens.
ONE_TOKEN = {"check_classifiers_train": "2 features as one token: its LayerNorm keeps only their sign (the head is for a block's tokens)"}


def expected_failures(estimator) -> dict[str, str]:
    return {**MINUS_ONE_IS_UNLABELED, **(ONE_TOKEN if isinstance(estimator, AttentionHead) else {})}


@parametrize_with_checks([*ESTIMATORS, LogRegHead(scaling="global")], expected_failed_checks=expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
