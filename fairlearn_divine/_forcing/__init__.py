"""Minimal forcing subsets: the constrained step, the remaining objective, the search."""

from ._search import ForcingSubset, minimal_forcing_subset, minimal_forcing_subsets

__all__ = ["ForcingSubset", "minimal_forcing_subset", "minimal_forcing_subsets"]
