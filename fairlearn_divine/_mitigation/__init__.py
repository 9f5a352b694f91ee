"""Mitigation: refit without (or with less weight on) the training points that drive unfairness.

* :class:`InfluentialPointRemover` (``_remover``): remove, down-weight or reweigh points, the
  amount chosen on validation data;
* :func:`removal_curve` (``_curve``): accuracy and hard unfairness along removal orders.
"""

from ._curve import STRATEGIES, RemovalCurve, removal_curve
from ._remover import AUTO_FRACTIONS, MODES, InfluentialPointRemover

__all__ = [
    "AUTO_FRACTIONS",
    "MODES",
    "STRATEGIES",
    "InfluentialPointRemover",
    "RemovalCurve",
    "removal_curve",
]
