"""One result base class: a dict with attribute access (as scipy's ``OptimizeResult``)."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

__all__ = ["Result"]


class Result(Bunch):
    """Base of every result the package returns: a ``Bunch`` (dict with attribute access).

    Subclasses set ``_summary``: the keys shown by ``repr`` (arrays as lists, floats with four
    significant digits). ``dir()`` lists the keys, so tab completion shows what a result holds.
    """

    _summary: tuple = ()

    def __repr__(self):
        parts = []
        for key in self._summary:
            if key not in self:
                continue
            value = self[key]
            if isinstance(value, np.ndarray):
                value = value.tolist() if value.size <= 20 else f"array(shape={value.shape})"
            elif isinstance(value, float | np.floating):
                value = float(f"{float(value):.4g}")
            parts.append(f"{key}={value!r}")
        if not self._summary:
            parts.append(f"keys={list(self.keys())}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __dir__(self):
        return list(self.keys())
