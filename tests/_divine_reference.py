"""Independent dense-numpy ground truth for the DIVINE selection tests.

Nothing here calls fairlearn_divine: an RBF kernel as a dense matrix, the three diversity
functions written straight from their definitions, and a brute-force greedy that evaluates the
full objective I(S u {v}) + gamma R(S u {v}) for every candidate at every step.
"""

import numpy as np


def rbf_dense(X, bandwidth):
    """phi(u, v) = exp(-||u - v||^2 / (2 sigma^2)), dense, float64, by explicit differences."""
    X = np.asarray(X, dtype=float)
    diff = X[:, None, :] - X[None, :, :]
    return np.exp(-np.sum(diff**2, axis=-1) / (2.0 * bandwidth**2))


def pairwise_distances(X):
    X = np.asarray(X, dtype=float)
    return np.sqrt(np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1))


def mean_pairwise_distance(X, idx):
    idx = list(idx)
    if len(idx) < 2:
        return 0.0
    D = pairwise_distances(np.asarray(X, dtype=float)[idx])
    iu = np.triu_indices(len(idx), k=1)
    return float(D[iu].mean())


def r_sum_redundancy(K, S):
    S = list(S)
    return float(K.sum() - K[np.ix_(S, S)].sum())


def r_facility_location(K, S):
    S = list(S)
    if not S:
        return 0.0
    return float(K[:, S].max(axis=1).sum())


def r_mmd(K, S):
    S = list(S)
    if not S:
        return 0.0
    n, k = K.shape[0], len(S)
    return float(2.0 / (n * k) * K[:, S].sum() - K[np.ix_(S, S)].sum() / k**2)


R_FUNCTIONS = {
    "sum_redundancy": r_sum_redundancy,
    "facility_location": r_facility_location,
    "mmd": r_mmd,
}


def objective(scores, K, S, gamma, diversity):
    S = list(S)
    return float(np.sum(np.asarray(scores)[S])) + gamma * R_FUNCTIONS[diversity](K, S)


def _feasible(v, S, groups, need, m):
    """Can the quota still be met after adding v to S?"""
    if groups is None:
        return True
    chosen = [*S, v]
    deficit = 0
    for g, k in need.items():
        deficit += max(k - sum(groups[u] == g for u in chosen), 0)
    return deficit <= m - len(chosen)


def brute_greedy(scores, K, m, gamma, diversity, *, groups=None, need=None, candidates=None):
    """Greedy on the full objective; ties go to the smallest index.

    ``groups``/``need`` (dict label -> minimum count) restrict each step to candidates after
    which the remaining quota can still be met. ``candidates`` restricts the ground set.
    """
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    pool = list(range(n)) if candidates is None else list(candidates)
    S = []
    for _ in range(m):
        best, best_v = -np.inf, None
        for v in pool:
            if v in S or not _feasible(v, S, groups, need, m):
                continue
            val = objective(scores, K, [*S, v], gamma, diversity)
            if val > best:
                best, best_v = val, v
        S.append(best_v)
    return S


def brute_greedy_diversity_first(scores, K, m, diversity, *, rtol=1e-12):
    """The gamma -> infinity limit: maximise R; among R-ties the larger score, then index."""
    scores = np.asarray(scores, dtype=float)
    R = R_FUNCTIONS[diversity]
    S = []
    for _ in range(m):
        rest = [v for v in range(len(scores)) if v not in S]
        vals = np.array([R(K, [*S, v]) for v in rest])
        top = vals.max()
        tied = [v for v, r in zip(rest, vals, strict=True) if r >= top - rtol * max(1, abs(top))]
        S.append(max(tied, key=lambda v: (scores[v], -v)))
    return S
