"""The heads pass scikit-learn's own estimator checks."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from fewgen.heads import KNNHead, LinearHead, LogRegHead, MLPHead


@parametrize_with_checks([LinearHead(max_iter=100), MLPHead(max_iter=100), LogRegHead(), KNNHead(), LogRegHead(scaling="global")])
def test_sklearn_compatible(estimator, check):
    check(estimator)
