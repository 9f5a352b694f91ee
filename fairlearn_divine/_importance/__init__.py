"""Training-point importance (the stage after model views and objectives).

Stages import from this package namespace only.
"""

from ._api import METHODS, ImportanceResult, resolve_method, training_point_importance
from ._refits import check_refit_estimator, flipped_labels, warn_if_random_refits
from ._trees import leaf_refit_without

__all__ = [
    "METHODS",
    "ImportanceResult",
    "check_refit_estimator",
    "flipped_labels",
    "leaf_refit_without",
    "resolve_method",
    "training_point_importance",
    "warn_if_random_refits",
]
