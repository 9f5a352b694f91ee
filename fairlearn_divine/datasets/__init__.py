"""Data sets: the DIVINE synthetic generator and loaders for the papers' real data.

:func:`make_divine_synthetic` needs no files. The ``load_*`` functions read the published files
from a data home (argument ``data_home`` or the environment variable ``FAIRLEARN_DIVINE_DATA``);
nothing is downloaded.
"""

from ._base import get_data_home
from ._real import (
    load_adult,
    load_bank_marketing,
    load_compas,
    load_enron1,
    load_fashion_mnist,
    load_law_school,
    load_lsat,
)
from ._synthetic import load_synthetic, make_divine_synthetic

__all__ = [
    "get_data_home",
    "load_adult",
    "load_bank_marketing",
    "load_compas",
    "load_enron1",
    "load_fashion_mnist",
    "load_law_school",
    "load_lsat",
    "load_synthetic",
    "make_divine_synthetic",
]
