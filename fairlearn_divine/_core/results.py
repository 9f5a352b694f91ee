"""One result base class: a dict with attribute access (as scipy's ``OptimizeResult``)."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

__all__ = ["Result", "html_summary", "row_index"]


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
        return list(self.keys()) + [
            name for name in ("to_frame",) if callable(getattr(type(self), name, None))
        ]

    def _repr_html_(self):
        return html_summary(self)


def row_index(X, n=None):
    """The row labels of ``X``: its pandas index, or positions ``0..n-1``."""
    import pandas as pd

    index = getattr(X, "index", None)
    if isinstance(index, pd.Index):
        return index
    return pd.RangeIndex(X.shape[0] if n is None else n)


def html_summary(result, *, max_rows=10):
    """HTML for a notebook: the scalar entries of a result and the head of its frame."""
    import html

    import pandas as pd

    rows = []
    for key, value in result.items():
        if isinstance(value, str | bool | int | float | np.integer | np.floating):
            rows.append((key, value))
    parts = [f"<p><b>{html.escape(type(result).__name__)}</b></p>"]
    if rows:
        frame = pd.DataFrame(rows, columns=["key", "value"]).set_index("key")
        parts.append(frame.to_html(float_format=lambda v: f"{v:.4g}"))
    to_frame = getattr(result, "to_frame", None)
    if callable(to_frame):
        table = to_frame()
        parts.append(table.head(max_rows).to_html(float_format=lambda v: f"{v:.4g}"))
        if len(table) > max_rows:
            parts.append(f"<p>{len(table) - max_rows} more rows: use .to_frame()</p>")
    return "\n".join(parts)
