"""DIVINE selection: kernels, diversity functions, greedy selection, the gamma trade-off.

Stages import from this package namespace only.
"""

from ._diversity import make_diversity
from ._features import diversity_features
from ._influential import select_diverse_influential
from ._kernels import BlockKernel, median_pairwise_distance
from ._select import DiverseSelection, select_diverse, tradeoff_curve

__all__ = [
    "BlockKernel",
    "DiverseSelection",
    "diversity_features",
    "make_diversity",
    "median_pairwise_distance",
    "select_diverse",
    "select_diverse_influential",
    "tradeoff_curve",
]
