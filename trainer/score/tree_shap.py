"""Exact SHAP contributions of a LightGBM model: the numbers `booster.predict(X, pred_contrib=True)` returns, from
tables instead of one tree walk per row and tree.

LightGBM's TreeSHAP walks every node of every tree for every row, O(leaves x depth^2) a tree: at 10M alerts (252
trees of 31 leaves) 2.3 ms a row on one core, 9 s of a day's scoring for its 7,433-alert review queue. Most of that
work repeats, for two reasons:

- A tree's contributions depend on a row only through the side it takes at each of the tree's splits (its decision
  vector). Among a day's highest scores a tree meets about a third as many distinct decision vectors as rows.
- A leaf's part of them depends only on which features of its path the row agrees with (its pattern, one of 2^d for
  d distinct features on the path). Each (leaf, pattern) met is computed once, all of them in a few array operations.

A leaf of value v whose path splits on features j with cover fractions z_j (the product of child count over parent
count along the path) gives a row agreeing with the path on o_j in {0, 1} the path-dependent Shapley value
(Lundberg et al., 2020, "From local explanations to global understanding with explainable AI for trees")

    phi_k = v * (o_k - z_k) * sum_S |S|! (d - |S| - 1)! / d! * prod_{j in S} o_j * prod_{j not in S, j != k} z_j

over the subsets S of the other path features. The weight is a Beta integral, so the sum is the integral over u in
[0, 1] of prod_{j != k} (z_j + (o_j - z_j) u): a polynomial of degree d - 1, which Gauss-Legendre quadrature on
ceil(d / 2) nodes integrates exactly.

Models outside what this reproduces (categorical or linear-tree splits, several classes, paths over
MAX_PATH_FEATURES distinct features) are explained by LightGBM itself. tests/unit/test_tree_shap.py checks the
two agree to 1e-9 on models with missing values, zeros and repeated features on a path.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cache

import lightgbm as lgb
import numpy as np
from threadpoolctl import threadpool_limits

# LightGBM treats |x| <= kZeroThreshold as 0 (a dense row drops such values, and a missing_type Zero split sends
# them its default way).
ZERO_THRESHOLD = 1e-35
MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}
# Distinct features on one leaf's path: a leaf has 2^d patterns, and all leaves' patterns share one key space.
MAX_PATH_FEATURES = 24
MAX_PATTERN_KEYS = 1 << 25  # the table starts of one chunk: 256 MB of int64 at most
# Rows handled at once: bounds the per-tree arrays (path features x distinct decision vectors) when every row of a
# busy day is explained.
ROWS_PER_CHUNK = 16_384
# Threads sharing the trees.
THREADS = max(1, min(os.cpu_count() or 1, 8))
# A decision vector is keyed by a float64 sum of powers of two, exact up to 2^53.
BITS_PER_KEY = 52


@dataclass(frozen=True)
class Tree:
    """One tree's splits and the paths of its leaves, indexed for whole-column operations.

    Nodes are the tree's internal nodes; a path feature (one per leaf and distinct feature on its path, "lk") agrees
    with a row when the row takes the path's side at every split of the path on that feature."""

    node_feature: np.ndarray  # [nodes] feature index of each split
    node_threshold: np.ndarray  # [nodes] float64 threshold (go left when value <= threshold)
    node_threshold32: np.ndarray  # [nodes] the largest float32 <= threshold: the same decision for float32 values
    node_default_left: np.ndarray  # [nodes, 1] where a missing value goes
    node_missing: np.ndarray  # [nodes, 1] MISSING_TYPES
    lk_node: np.ndarray  # [lk] the first split of the path on the feature
    lk_left: np.ndarray  # [lk, 1] the side the path takes there
    lk_more: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # further splits on the feature: (lk, node, left)
    to_patterns: np.ndarray  # [leaves, lk] float32 2^k for the k-th path feature of the leaf: a leaf's pattern number
    leaf_key: np.ndarray  # [leaves, 1] the leaf's first key in the forest's pattern key space
    leaf_of_lk: np.ndarray  # [lk] leaf (position in this tree) of each path feature
    k_of_lk: np.ndarray  # [lk, 1] position of the feature on its leaf's path
    columns: np.ndarray  # [columns] the features this tree splits on
    to_columns: np.ndarray  # [columns, lk] 1 where the path feature is that column: sums path features per feature


@dataclass(frozen=True)
class Forest:
    """A model's trees and, for every leaf with a path, what its pattern table needs."""

    trees: tuple[Tree, ...]
    n_features: int
    expected_value: float
    leaf_value: np.ndarray  # [leaves]
    leaf_depth: np.ndarray  # [leaves] distinct features on the path (d)
    leaf_key: np.ndarray  # [leaves] first key of the leaf's 2^d patterns
    leaf_lk_start: np.ndarray  # [leaves] first entry of the leaf in lk_cover
    lk_cover: np.ndarray  # [lk] z: the product of the cover fractions of the path's splits on the feature
    pattern_keys: int


def forest_of(booster: lgb.Booster) -> Forest | None:
    """The model's trees as tables, or None when it has splits or outputs this module does not reproduce."""
    model = booster.dump_model()
    if model.get("num_class", 1) != 1 or model.get("num_tree_per_iteration", 1) != 1:
        return None
    trees, expected = [], 0.0
    leaf_value: list[float] = []
    leaf_depth: list[int] = []
    leaf_lk_start: list[int] = []
    lk_cover: list[float] = []
    for info in model["tree_info"]:
        root = info["tree_structure"]
        if "leaf_value" in root:  # a constant tree: its value is part of every expectation, of no feature
            expected += root["leaf_value"]
            continue
        tree = _tree(root, leaf_value, leaf_depth, leaf_lk_start, lk_cover)
        if tree is None:
            return None
        tree_expected, tree_structure = tree
        expected += tree_expected
        trees.append(tree_structure)
    depth = np.array(leaf_depth, dtype=np.int64)
    if depth.size and depth.max() > MAX_PATH_FEATURES or min(lk_cover, default=1.0) <= 0:  # an empty child: no weights
        return None
    keys = np.concatenate([[0], np.cumsum(np.left_shift(1, depth))])
    if keys[-1] > MAX_PATTERN_KEYS:
        return None
    leaf_key = keys[:-1]
    keyed = tuple(_with_keys(tree, leaf_key) for tree in trees)
    return Forest(
        trees=keyed,
        n_features=model["max_feature_idx"] + 1,
        expected_value=expected,
        leaf_value=np.array(leaf_value),
        leaf_depth=depth,
        leaf_key=leaf_key,
        leaf_lk_start=np.array(leaf_lk_start, dtype=np.int64),
        lk_cover=np.array(lk_cover),
        pattern_keys=int(keys[-1]),
    )


def _count(node: dict) -> int:
    return node["leaf_count"] if "leaf_value" in node else node["internal_count"]


def _tree(
    root: dict, leaf_value: list[float], leaf_depth: list[int], leaf_lk_start: list[int], lk_cover: list[float]
) -> tuple[float, Tree] | None:
    """(expected value, Tree) of one dumped tree, appending its leaves to the forest's leaf lists; None for a split
    this module does not reproduce."""
    features, thresholds, default_left, missing = [], [], [], []
    lk_node, lk_left, lk_leaf, lk_k, lk_feature = [], [], [], [], []
    more: list[tuple[int, int, bool]] = []
    leaf_ids = []
    expected, total = 0.0, root["internal_count"]
    stack: list[tuple[dict, list[tuple[int, bool, int, float]]]] = [(root, [])]
    while stack:
        node, path = stack.pop()
        if "leaf_value" in node:
            if "leaf_coeff" in node:  # a linear tree
                return None
            expected += node["leaf_value"] * node["leaf_count"] / total
            by_feature: dict[int, tuple[list[tuple[int, bool]], float]] = {}
            for index, left, feature, fraction in path:
                splits, cover = by_feature.get(feature, ([], 1.0))
                by_feature[feature] = ([*splits, (index, left)], cover * fraction)
            leaf_ids.append(len(leaf_value))
            leaf_lk_start.append(len(lk_cover))
            leaf_value.append(node["leaf_value"])
            leaf_depth.append(len(by_feature))
            for k, (feature, (splits, cover)) in enumerate(by_feature.items()):
                lk = len(lk_node)
                lk_node.append(splits[0][0])
                lk_left.append(splits[0][1])
                more.extend((lk, index, left) for index, left in splits[1:])
                lk_leaf.append(len(leaf_ids) - 1)
                lk_k.append(k)
                lk_feature.append(feature)
                lk_cover.append(cover)
            continue
        if node["decision_type"] != "<=":  # a categorical split
            return None
        index = len(features)
        features.append(node["split_feature"])
        thresholds.append(node["threshold"])
        default_left.append(node["default_left"])
        missing.append(MISSING_TYPES[node["missing_type"]])
        parent = node["internal_count"]
        stack.append((node["right_child"], [*path, (index, False, node["split_feature"], _count(node["right_child"]) / parent)]))
        stack.append((node["left_child"], [*path, (index, True, node["split_feature"], _count(node["left_child"]) / parent)]))
    threshold = np.array(thresholds)
    threshold32 = threshold.astype(np.float32)
    above = threshold32.astype(np.float64) > threshold
    threshold32[above] = np.nextafter(threshold32[above], np.float32(-np.inf))
    columns, column_of_lk = np.unique(np.array(lk_feature, dtype=np.int64), return_inverse=True)
    to_columns = np.zeros((columns.size, len(lk_node)))
    to_columns[column_of_lk, np.arange(len(lk_node))] = 1.0
    to_patterns = np.zeros((len(leaf_ids), len(lk_node)), dtype=np.float32)  # exact: patterns stay below 2^24
    to_patterns[lk_leaf, np.arange(len(lk_node))] = np.exp2(lk_k)
    return expected, Tree(
        node_feature=np.array(features, dtype=np.int64),
        node_threshold=threshold,
        node_threshold32=threshold32,
        node_default_left=np.array(default_left, dtype=bool)[:, None],
        node_missing=np.array(missing, dtype=np.int8)[:, None],
        lk_node=np.array(lk_node, dtype=np.int64),
        lk_left=np.array(lk_left, dtype=bool)[:, None],
        lk_more=_levels(more),
        to_patterns=to_patterns,
        leaf_key=np.array(leaf_ids, dtype=np.int64)[:, None],  # leaf ids for now: _with_keys turns them into keys
        leaf_of_lk=np.array(lk_leaf, dtype=np.int64),
        k_of_lk=np.array(lk_k, dtype=np.int64)[:, None],
        columns=columns,
        to_columns=to_columns,
    )


def _levels(more: list[tuple[int, int, bool]]) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """Further splits on a path feature, in rounds where each path feature appears at most once (an indexed in-place
    AND applies one value per index)."""
    levels, remaining = [], more
    while remaining:
        seen: set[int] = set()
        this, later = [], []
        for split in remaining:
            (later if split[0] in seen else this).append(split)
            seen.add(split[0])
        lk, node, left = (np.array(values) for values in zip(*this, strict=True))
        levels.append((lk.astype(np.int64), node.astype(np.int64), left.astype(bool)[:, None]))
        remaining = later
    return tuple(levels)


def _with_keys(tree: Tree, leaf_key: np.ndarray) -> Tree:
    return replace(tree, leaf_key=leaf_key[tree.leaf_key[:, 0]][:, None])


def contributions(booster: lgb.Booster, features: np.ndarray, forest: Forest | None = None) -> np.ndarray:
    """What `booster.predict(features, pred_contrib=True)` returns: one column per feature plus the expected value
    last. `forest` is forest_of(booster) when already built; LightGBM computes them for a model forest_of refuses."""
    forest = forest if forest is not None else forest_of(booster)
    if forest is None:
        return np.asarray(booster.predict(features, pred_contrib=True))
    output = np.empty((features.shape[0], forest.n_features + 1))
    for start in range(0, features.shape[0], ROWS_PER_CHUNK):
        chunk = features[start : start + ROWS_PER_CHUNK]
        output[start : start + chunk.shape[0]] = _contributions(forest, chunk).T
    return output


def _contributions(forest: Forest, features: np.ndarray) -> np.ndarray:
    """[features + 1, rows] contributions of one chunk of rows. Each thread takes a share of the trees (the array
    operations release Python's lock), and the pattern tables are computed once for all trees."""
    if not forest.trees:  # constant trees only: every row gets the expected value, no feature a share
        output = np.zeros((forest.n_features + 1, features.shape[0]))
        output[-1] = forest.expected_value
        return output
    float32 = features.dtype == np.float32
    values = np.array(features.T, dtype=np.float32 if float32 else np.float64, order="C")
    values[np.abs(values) <= ZERO_THRESHOLD] = 0.0
    has_nan = bool(np.isnan(values).any())
    met = np.zeros(forest.pattern_keys, dtype=bool)  # threads only ever set entries: no lost update
    shares = [share for share in np.array_split(np.arange(len(forest.trees)), THREADS) if share.size]

    def patterns_met(share: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        patterns = [_leaf_patterns(forest.trees[index], values, float32, has_nan) for index in share]
        for keys, _ in patterns:
            met[keys.ravel()] = True
        return patterns

    # One BLAS thread per thread here: BLAS's own threads on top of these would contend for the same cores.
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(len(shares), thread_name_prefix="tree-shap") as pool:
        per_share = list(pool.map(patterns_met, shares))
        table_start, table = _pattern_tables(forest, np.flatnonzero(met))

        def summed(share: np.ndarray, patterns: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
            output = np.zeros((forest.n_features + 1, features.shape[0]))
            for index, (keys, inverse) in zip(share, patterns, strict=True):
                tree = forest.trees[index]
                starts = table_start[keys]  # [leaves, distinct decision vectors]
                by_path_feature = table[starts[tree.leaf_of_lk] + tree.k_of_lk]
                output[tree.columns] += (tree.to_columns @ by_path_feature)[:, inverse]
            return output

        output = sum(pool.map(summed, shares, per_share))
    output[-1] = forest.expected_value
    return output


def _leaf_patterns(tree: Tree, values: np.ndarray, float32: bool, has_nan: bool) -> tuple[np.ndarray, np.ndarray]:
    """(keys, inverse): the pattern key of each leaf for each distinct decision vector of the rows, [leaves, distinct
    vectors], and the distinct vector of each row."""
    decisions = _decisions(tree, values, float32, has_nan)
    representatives, inverse = _distinct_columns(decisions)
    agree = decisions[:, representatives]
    on_path = agree[tree.lk_node] == tree.lk_left
    for lk, node, left in tree.lk_more:
        on_path[lk] &= agree[node] == left
    patterns = tree.to_patterns @ on_path.astype(np.float32)
    return patterns.astype(np.int64) + tree.leaf_key, inverse


def _decisions(tree: Tree, values: np.ndarray, float32: bool, has_nan: bool) -> np.ndarray:
    """[nodes, rows] True where the row goes left, by LightGBM's numerical decision (a NaN counts as 0 unless the split
    keeps missing values apart; a zero or a missing value then goes the default way)."""
    split_values = values[tree.node_feature]
    threshold = (tree.node_threshold32 if float32 else tree.node_threshold)[:, None]
    go_left = split_values <= threshold
    missing_zero, missing_nan = tree.node_missing == MISSING_TYPES["Zero"], tree.node_missing == MISSING_TYPES["NaN"]
    if not has_nan and not missing_zero.any():
        return go_left
    nan = np.isnan(split_values)
    go_left |= nan & ~missing_nan & (threshold >= 0)
    default = (missing_zero & (nan | (split_values == 0))) | (missing_nan & nan)
    return np.where(default, tree.node_default_left, go_left)


def _distinct_columns(decisions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one column index per distinct column, the distinct column of each column)."""
    words = [_powers(block.shape[0]) @ block for block in np.array_split(decisions, -(-decisions.shape[0] // BITS_PER_KEY))]
    if len(words) == 1:
        _, representatives, inverse = np.unique(words[0], return_index=True, return_inverse=True)
    else:
        _, representatives, inverse = np.unique(np.stack(words, axis=1), axis=0, return_index=True, return_inverse=True)
    return representatives, inverse.ravel()


@cache
def _powers(bits: int) -> np.ndarray:
    return np.exp2(np.arange(bits, dtype=np.float64))


def _pattern_tables(forest: Forest, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, values): for each (leaf, pattern) key met, the Shapley value of each feature on the leaf's path, in path
    order, from values[start[key]] on. Keys of one path length are computed together."""
    leaf = np.searchsorted(forest.leaf_key, keys, side="right") - 1
    depth = forest.leaf_depth[leaf]
    start = np.zeros(forest.pattern_keys, dtype=np.int64)
    table = np.empty(int(depth.sum()))
    offset = 0
    for d in np.unique(depth):
        chosen = np.flatnonzero(depth == d)
        leaves = leaf[chosen]
        pattern = keys[chosen] - forest.leaf_key[leaves]
        k = np.arange(d)[:, None]
        agrees = ((pattern >> k) & 1).astype(np.float64)  # [d, keys] o_j
        cover = forest.lk_cover[forest.leaf_lk_start[leaves] + k]  # [d, keys] z_j
        slope = agrees - cover
        nodes, weights = _quadrature(int(d))
        factors = cover + slope * nodes[:, None, None]  # [nodes, d, keys]
        integral = (factors.prod(axis=1, keepdims=True) * weights[:, None, None] / factors).sum(axis=0)  # [d, keys]
        start[keys[chosen]] = offset + d * np.arange(chosen.size)
        table[offset : offset + chosen.size * d] = (forest.leaf_value[leaves] * slope * integral).T.ravel()
        offset += chosen.size * d
    return start, table


@cache
def _quadrature(depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1], exact for polynomials of degree depth - 1."""
    nodes, weights = np.polynomial.legendre.leggauss(max(1, (depth + 1) // 2))
    return (nodes + 1) / 2, weights / 2
