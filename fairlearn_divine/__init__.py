"""fairlearn-divine: which training points drive a classifier's loss or its unfairness.

Importance scores follow one sign convention: ``scores[i] = f(theta without i) - f(theta)`` for
a cost ``f``; positive means point *i* helps, negative means it is harmful.
"""

from ._forcing import ForcingSubset, minimal_forcing_subset, minimal_forcing_subsets
from ._importance import ImportanceResult, training_point_importance
from ._mitigation import InfluentialPointRemover, RemovalCurve, removal_curve
from ._models import DifferentiableModel
from ._objectives import EvaluationFunction, make_evaluation_function, make_metric_frame_objective
from ._selection import (
    DiverseSelection,
    select_diverse,
    select_diverse_influential,
    tradeoff_curve,
)
from ._version import __version__
from ._warnings import ApproximationWarning

__all__ = [
    "ApproximationWarning",
    "DifferentiableModel",
    "DiverseSelection",
    "DivineExplainer",
    "EvaluationFunction",
    "ForcingSubset",
    "ImportanceResult",
    "InfluentialPointRemover",
    "RemovalCurve",
    "__version__",
    "make_evaluation_function",
    "make_metric_frame_objective",
    "minimal_forcing_subset",
    "minimal_forcing_subsets",
    "removal_curve",
    "select_diverse",
    "select_diverse_influential",
    "tradeoff_curve",
    "training_point_importance",
]


def __getattr__(name):
    # DivineExplainer subclasses shap.Explainer: import shap (slow) only when it is asked for
    if name == "DivineExplainer":
        from ._explainer import DivineExplainer

        return DivineExplainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
