"""Model views: the differentiable protocol and its implementations (first stage).

Stages import from this package namespace only.
"""

from ._factory import SUPPORTED_ESTIMATORS, make_view
from ._glm import GLMView
from ._newton import REFIT_SOLVERS, NewtonRefitter, newton_refit_supported, use_newton_refits
from ._protocol import DifferentiableModel, has_hessian_factors, is_differentiable_model
from ._trees import BoostedTrees, is_boosted_trees, parse_boosted_trees

__all__ = [
    "BoostedTrees",
    "is_boosted_trees",
    "parse_boosted_trees",
    "REFIT_SOLVERS",
    "SUPPORTED_ESTIMATORS",
    "DifferentiableModel",
    "GLMView",
    "NewtonRefitter",
    "has_hessian_factors",
    "is_differentiable_model",
    "make_view",
    "newton_refit_supported",
    "use_newton_refits",
]
