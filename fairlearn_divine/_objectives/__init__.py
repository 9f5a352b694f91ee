"""Evaluation functions f: the quantity whose change a training point's score measures.

See :mod:`fairlearn_divine._objectives._builtin` for the objectives and their surrogates.
Stages import from this package namespace only.
"""

from ._base import EvaluationFunction, clip_proba, make_evaluation_function
from ._builtin import (
    FAIRNESS_OBJECTIVES,
    OBJECTIVE_NAMES,
    is_log_loss,
    is_zero_one_loss,
    resolve_objective,
)
from ._context import EvalContext, encode_sensitive_features, resolve_sensitive_features
from ._fairlearn import make_metric_frame_objective
from ._rates import group_gaps, signed_gaps

__all__ = [
    "FAIRNESS_OBJECTIVES",
    "OBJECTIVE_NAMES",
    "EvalContext",
    "EvaluationFunction",
    "clip_proba",
    "encode_sensitive_features",
    "group_gaps",
    "is_log_loss",
    "is_zero_one_loss",
    "make_evaluation_function",
    "make_metric_frame_objective",
    "resolve_objective",
    "resolve_sensitive_features",
    "signed_gaps",
]
