"""Exact interventional TreeSHAP on background rows, in margin or probability space.

The game
--------
For a lead ``x`` and one background row ``b``, the *single-reference margin game* is
``m_b(S) = margin(x_S, b_~S)``: the players in ``S`` take their values from ``x``, the others
from ``b``. It is additive over trees and leaves. Per leaf ``L`` with value ``v`` and the
distinct players on its path (slots), ``x`` satisfies a player when it takes the path at
every node splitting on that player's columns (a one-hot block is one player), and ``b``
likewise. If some player is satisfied by neither, the hybrid row never reaches ``L``. Else let
``A`` be the players only ``x`` satisfies and ``B`` those only ``b`` satisfies: ``L`` adds
``v * [A within S, S disjoint from B]``, whose Shapley values are

    i in A:  v * (|A| - 1)! |B|! / (|A| + |B|)!
    j in B: -v * |A|! (|B| - 1)! / (|A| + |B|)!

Margin space averages these over the background rows: the exact Shapley values of the
interventional game ``v(S) = mean_b margin(x_S, b_~S)`` (the margin is additive, so the mean of
the per-row values is the value of the mean game).

Probability space is what shap's interventional ``TreeExplainer`` computes with
``model_output="probability"``: each row's margin values are rescaled by
``(sigmoid(m(x)) - sigmoid(m(b))) / (m(x) - m(b))`` (by 1 when ``m(x) == m(b)``, as shap does)
and then averaged. The values add up exactly, ``mean_b sigmoid(m(b)) + sum(phi) =
sigmoid(m(x))``, but they are **not** the Shapley values of the probability game
``mean_b sigmoid(margin(x_S, b_~S))``: the sigmoid is applied per background row to the whole
margin difference, not to each coalition.

Response space is the same rescaling with the regressor's own link ``f`` (``exp`` for Poisson,
gamma and Tweedie objectives, the logistic for ``reg:logistic`` and ``cross_entropy``,
``softplus`` for LightGBM's ``cross_entropy_lambda``): ``(f(m(x)) - f(m(b))) / (m(x) - m(b))``,
or the limit ``f'(m(b))`` at equal margins. The values add up to ``f(m(x))``, the regressor's
``predict``, exactly; like probability space they are not the Shapley values of the response
game ``mean_b f(margin(x_S, b_~S))`` (``method="kernel"`` computes those).

Why groups of background rows
------------------------------
Everything a background row contributes at a leaf depends only on its *fail mask* there (the
slots it contradicts). With ``B_x`` the lead's fail mask, a row with fail mask ``F`` reaches the
leaf in some coalition iff ``F & B_x == 0``, and then its ``A`` is ``F`` and its ``B`` is
``B_x``. So the rows are grouped per leaf by fail mask once, at build (at most
``min(n_background, 2^d)`` groups per leaf, about 20 for 100 rows on depth-6 XGBoost trees),
and a group the lead meets needs only the summed weight of its rows: their share of the
background in margin space, the sum of their rescaling factors in probability space.

Blocks of leads go through each leaf together with the leads innermost, branch-free (which
groups a lead meets is too irregular for branches), so those loops vectorise; a single lead
visits only the groups it meets. Both add the same floats in the same order, so a lead's
values are the same bits in any batch and with any number of threads. On the XGBoost 300 x
depth-6 benchmark with 100 background rows, one thread, this is about 35 times shap's
interventional explainer for 1,000 leads and 10 times for one lead
(``benchmarks/bench_interventional.py``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numba
import numpy as np
import numpy.typing as npt
from numba import njit, prange

from ..._numba_cache import kernel_cache
from ...exceptions import InputError, ParameterError, UnsupportedModelError
from ._decision import block_fail_masks, goes_left
from ._ensemble import TreeEnsemble
from ._plan_kernels import trailing_zeros
from ._shap import _check_groups, _max_threads, tree_layout

# Compiled on first call, cached in the per-user cache directory (explainscore._numba_cache).
_CACHE = kernel_cache()

__all__ = ["InterventionalTreeCore", "interventional_shap"]

FloatArray = npt.NDArray[np.float64]
#: Unsigned index cast: numba then skips its negative-index wraparound test (see _decision).
_U = np.uint64
Space = Literal["margin", "log_odds", "raw", "probability", "response"]

#: Most distinct players on one path: fail masks are one 64-bit word (bit 63 kept clear).
MAX_SLOTS = 63
#: Leads per block: one tree's groups stay in cache while the block's leads read them.
_BLOCK = 64
#: Blocks of at least this many leads take the dense (vectorised) way through a leaf.
_DENSE_MIN = 8
#: Below this margin gap the rescaling factor takes its cancellation-free form.
_CLOSE = 1.0


def _shapley_table(max_d: int) -> FloatArray:
    """``w[p, q] = (p - 1)! q! / (p + q)! = 1 / (p * C(p + q, p))`` for ``p >= 1``."""
    w = np.zeros((max_d + 1, max_d + 1), dtype=np.float64)
    for p in range(1, max_d + 1):
        for q in range(max_d + 1 - p):
            w[p, q] = 1.0 / (p * math.comb(p + q, p))
    return w


@njit(cache=_CACHE, nogil=True, inline="always")
def _popcount(m: Any) -> int:
    c = 0
    while m:
        m &= m - np.uint64(1)
        c += 1
    return c


@njit(cache=_CACHE, nogil=True)
def _sigmoid(m: float) -> float:
    # Two branches so neither exp overflows.
    if m >= 0.0:
        return 1.0 / (1.0 + math.exp(-m))
    e = math.exp(m)
    return e / (1.0 + e)


#: Links the rescaling knows (codes passed to the compiled kernels).
LINK_CODES = {"logistic": 0, "exp": 1, "softplus": 2}


@njit(cache=_CACHE, nogil=True)
def _softplus(m: float) -> float:
    # log(1 + e^m) without overflow for large m.
    if m > 0.0:
        return m + math.log1p(math.exp(-m))
    return math.log1p(math.exp(m))


@njit(cache=_CACHE, nogil=True)
def _slope(mx: float, mb: float, sb: float, link: int) -> float:
    """``(f(mx) - f(mb)) / (mx - mb)`` for the link ``f`` coded ``link``; ``sb`` is ``f(mb)``.

    Logistic: equal margins give 1, shap's convention (the row's margin values then sum to
    zero). Close margins use ``sinh(h) / h / (4 cosh(mx / 2) cosh(mb / 2))`` with
    ``h = (mx - mb) / 2``, the same number without the cancellation of the difference
    quotient. ``exp`` and ``softplus`` (which shap does not rescale) take the limit, the
    derivative ``f'(mb)``, at equal margins, and forms without cancellation near it:
    ``exp(mb) * expm1(gap) / gap`` and ``log1p(sigmoid(mb) * expm1(gap)) / gap``.
    """
    gap = mx - mb
    if link == 1:
        if gap == 0.0:
            return math.exp(mb)
        return math.exp(mb) * (math.expm1(gap) / gap)
    if link == 2:
        if gap == 0.0:
            return _sigmoid(mb)
        if abs(gap) > _CLOSE:
            return (_softplus(mx) - sb) / gap
        return math.log1p(_sigmoid(mb) * math.expm1(gap)) / gap
    if mx == mb:
        return 1.0
    if abs(gap) > _CLOSE:
        return (_sigmoid(mx) - sb) / gap
    h = 0.5 * gap
    return math.sinh(h) / h / (4.0 * math.cosh(0.5 * mx) * math.cosh(0.5 * mb))


@njit(cache=_CACHE, nogil=True)
def _tree_fail_masks(
    RT: Any,
    t: int,
    nodes: Any,
    p_left: Any,
    p_right: Any,
    p_slot: Any,
    tree_node_start: Any,
    tree_internal: Any,
    tree_leaf_start: Any,
    leaves: Any,
    fail: Any,
    masks: Any,
) -> None:
    """``masks[k, b]``: the slots row ``b`` (column ``b`` of ``RT``, features x rows)
    contradicts on the path to tree ``t``'s ``k``-th leaf (``fail`` is scratch of one entry
    per node of the tree and row); ``nodes`` are the decision's six node arrays."""
    base = tree_node_start[t]
    n = RT.shape[1]
    block_fail_masks(RT, 0, n, base, tree_internal[t], nodes, p_left, p_right, p_slot, fail)
    l0 = tree_leaf_start[t]
    for lf in range(l0, tree_leaf_start[t + 1]):
        masks[lf - l0] = fail[leaves[lf] - base]


@njit(cache=_CACHE, nogil=True)
def _build_groups(
    R: Any,
    nodes: Any,
    p_left: Any,
    p_right: Any,
    p_slot: Any,
    tree_node_start: Any,
    tree_internal: Any,
    tree_leaf_start: Any,
    leaves: Any,
    max_nodes: int,
    keep_members: bool,
) -> Any:
    """Group the background rows per leaf by fail mask (two passes: count, then fill).

    Returns ``(leaf_group_start, leaf_and, group_mask, group_na, group_count, group_first,
    members)``: the rows of group ``g`` of leaf ``lf`` are ``group_count[g]`` entries of
    ``members`` from ``lf * n + group_first[g]``. A leaf's groups are in increasing mask order
    and their members in increasing row order, so the layout (and every sum over it) is
    deterministic. ``members`` is empty unless ``keep_members``.
    """
    n_trees = tree_node_start.shape[0] - 1
    n_leaves = leaves.shape[0]
    n = R.shape[0]
    RT = np.ascontiguousarray(R.T)
    fail = np.zeros((max_nodes, n), dtype=np.uint64)
    max_leaves = 1
    for t in range(n_trees):
        max_leaves = max(max_leaves, tree_leaf_start[t + 1] - tree_leaf_start[t])
    masks = np.empty((max_leaves, n), dtype=np.uint64)
    leaf_group_start = np.zeros(n_leaves + 1, dtype=np.int64)
    for t in range(n_trees):
        _tree_fail_masks(
            RT, t, nodes, p_left, p_right, p_slot, tree_node_start, tree_internal,
            tree_leaf_start, leaves, fail, masks,
        )  # fmt: skip
        l0 = tree_leaf_start[t]
        for lf in range(l0, tree_leaf_start[t + 1]):
            s = np.sort(masks[lf - l0])
            k = 1 if n > 0 else 0
            for i in range(1, n):
                if s[i] != s[i - 1]:
                    k += 1
            leaf_group_start[lf + 1] = k
    for lf in range(n_leaves):
        leaf_group_start[lf + 1] += leaf_group_start[lf]
    n_groups = leaf_group_start[n_leaves]
    group_mask = np.empty(n_groups, dtype=np.uint64)
    group_na = np.empty(n_groups, dtype=np.int32)
    group_count = np.empty(n_groups, dtype=np.int64)
    group_first = np.empty(n_groups, dtype=np.int64)
    members = np.empty(n_leaves * n if keep_members else 0, dtype=np.int32)
    leaf_and = np.empty(n_leaves, dtype=np.uint64)
    for t in range(n_trees):
        _tree_fail_masks(
            RT, t, nodes, p_left, p_right, p_slot, tree_node_start, tree_internal,
            tree_leaf_start, leaves, fail, masks,
        )  # fmt: skip
        l0 = tree_leaf_start[t]
        for lf in range(l0, tree_leaf_start[t + 1]):
            row = masks[lf - l0]
            order = np.argsort(row, kind="mergesort")  # stable: members in row order
            g = leaf_group_start[lf] - 1
            both = ~np.uint64(0)
            for k in range(n):
                b = order[k]
                m = row[b]
                if k == 0 or m != row[order[k - 1]]:
                    g += 1
                    group_mask[g] = m
                    group_na[g] = _popcount(m)
                    group_count[g] = 0
                    group_first[g] = k
                    both &= m
                group_count[g] += 1
                if keep_members:
                    members[lf * n + k] = b
            leaf_and[lf] = both
    return leaf_group_start, leaf_and, group_mask, group_na, group_count, group_first, members


@njit(cache=_CACHE, nogil=True)
def _explain_block(
    XT: Any,
    lo: int,
    hi: int,
    outT: Any,
    margins: Any,
    plan: Any,
    bg_margin: Any,
    bg_sigmoid: Any,
    base: float,
    weighted: bool,
    link: int,
    max_nodes: int,
    max_d: int,
) -> None:
    """Add the values of leads ``lo:hi`` (columns of ``XT``, features x leads) to ``outT``
    (players x leads) and write their margins to ``margins``.

    Two ways through a leaf, chosen by the block size, that add the same floats in the same
    order (terms of unmet groups are zeros, which change no sum): *sparse*, lead by lead,
    visits only the groups the lead meets; *dense* visits every group for all the block's
    leads at once, branch-free, so the loops over leads vectorise. Each lead's values are thus
    the same bits whatever the block, the batch or the threads.
    """
    (
        p_feature,
        p_threshold,
        p_flags,
        p_cat_start,
        p_cat_len,
        cat_words,
        p_left,
        p_right,
        p_slot,
        p_value,
        tree_node_start,
        tree_internal,
        tree_leaf_start,
        leaves,
        leaf_d,
        leaf_slot,
        slot_player,
        leaf_group_start,
        leaf_and,
        group_mask,
        group_na,
        group_w,
        group_first,
        group_count,
        members,
        wt,
    ) = plan
    n_bg = bg_margin.shape[0]
    B = hi - lo
    dense = B >= _DENSE_MIN
    # Margins first: in probability space each background row weighs by a factor of m(x).
    for j in range(B):
        m = base
        for t in range(tree_node_start.shape[0] - 1):
            node = tree_node_start[t]
            while p_left[node] >= 0:
                x = XT[p_feature[node], lo + j]
                if goes_left(x, node, p_threshold, p_flags, p_cat_start, p_cat_len, cat_words):
                    node = p_left[node]
                else:
                    node = p_right[node]
            m += p_value[node]
        margins[lo + j] = m
    inv_n = 1.0 / n_bg
    # fT[b, j]: background row b's weight for lead j (rows outer, so a group's sum over its
    # rows is a sum of contiguous vectors over the block's leads).
    fT = np.empty((n_bg if weighted else 0, B), dtype=np.float64)
    if weighted:
        for j in range(B):
            mx = margins[lo + j]
            for b in range(n_bg):
                fT[b, j] = _slope(mx, bg_margin[b], bg_sigmoid[b], link) * inv_n
    fail = np.zeros((max_nodes, B), dtype=np.uint64)
    # Sparse scratch.
    hits = np.empty(n_bg + 1, dtype=np.int64)  # a leaf has at most one group per row
    r1 = np.zeros(max_d + 1, dtype=np.float64)
    # Dense scratch: per slot and lead; per lead.
    r = np.zeros((max_d + 1, B if dense else 0), dtype=np.float64)
    wt_a = np.zeros((max_d + 1, B if dense else 0), dtype=np.float64)
    wt_b = np.zeros((max_d + 1, B if dense else 0), dtype=np.float64)
    neg = np.zeros(B, dtype=np.float64)
    hv = np.zeros(B, dtype=np.float64)
    wv = np.zeros(B, dtype=np.float64)
    nbv = np.zeros(B, dtype=np.uint64)
    one = np.uint64(1)
    ulo = _U(lo)
    nodes = (p_feature, p_threshold, p_flags, p_cat_start, p_cat_len, cat_words)
    for t in range(tree_node_start.shape[0] - 1):
        base_node = tree_node_start[t]
        block_fail_masks(
            XT, lo, B, base_node, tree_internal[t], nodes, p_left, p_right, p_slot, fail
        )
        for lf in range(tree_leaf_start[t], tree_leaf_start[t + 1]):
            leaf = leaves[lf]
            d = leaf_d[lf]
            v = p_value[leaf]
            if d == 0 or v == 0.0:
                continue  # a constant: no player moves it
            gs = leaf_group_start[lf]
            ge = leaf_group_start[lf + 1]
            la = leaf_and[lf]
            so = leaf_slot[lf]
            fleaf = fail[leaf - base_node]
            if dense:
                # Every row contradicting a slot the lead contradicts too: nothing to add.
                live = False
                for j in range(B):
                    live |= (fleaf[j] & la) == 0
                if not live:
                    continue
                for j in range(B):
                    nbv[j] = _popcount(fleaf[j])
                    neg[j] = 0.0
                for q in range(d + 1):
                    for j in range(B):
                        wt_a[q, j] = wt[_U(q), nbv[j]]
                        wt_b[q, j] = wt[nbv[j], _U(q)]
                for g in range(gs, ge):
                    mg = group_mask[g]
                    met = False
                    for j in range(B):
                        h = (mg & fleaf[j]) == 0
                        hv[j] = h
                        met |= h
                    if not met:
                        continue
                    na = group_na[g]
                    if weighted:
                        for j in range(B):
                            wv[j] = 0.0
                        k0 = lf * n_bg + group_first[g]
                        for k in range(k0, k0 + group_count[g]):
                            fb = fT[members[k]]
                            for j in range(B):
                                wv[j] += fb[j]
                    else:
                        for j in range(B):
                            wv[j] = group_w[g]
                    ra = wt_a[na]
                    rb = wt_b[na]
                    for j in range(B):
                        vw = v * wv[j]
                        neg[j] += vw * rb[j] * hv[j]
                        wv[j] = vw * ra[j] * hv[j]
                    a = mg
                    while a:
                        rs = r[trailing_zeros(a)]
                        for j in range(B):
                            rs[j] += wv[j]
                        a &= a - one
                for s in range(d):
                    dst = outT[_U(slot_player[so + s])]
                    rs = r[s]
                    for j in range(B):
                        dst[ulo + _U(j)] += rs[j] - neg[j] * ((fleaf[j] >> _U(s)) & one)
                        rs[j] = 0.0
                continue
            for j in range(B):
                bx = fleaf[j]
                if bx & la:
                    continue
                # The groups the lead meets, compacted without branches (which groups are
                # met is too irregular to predict).
                n_hit = 0
                for g in range(gs, ge):
                    hits[_U(n_hit)] = g
                    n_hit += (group_mask[_U(g)] & bx) == 0
                if n_hit == 0:
                    continue
                nb = _popcount(bx)
                ng = 0.0
                for h in range(n_hit):
                    gu = _U(hits[_U(h)])
                    if weighted:
                        w = 0.0
                        k0 = _U(lf * n_bg + group_first[gu])
                        for k in range(group_count[gu]):
                            w += fT[_U(members[k0 + _U(k)]), _U(j)]
                    else:
                        w = group_w[gu]
                    na = _U(group_na[gu])
                    # wt[0, q] == 0: an empty A (or B) adds nothing to its side.
                    vw = v * w
                    ng += vw * wt[_U(nb), na] * 1.0
                    c = vw * wt[na, _U(nb)] * 1.0
                    mg = group_mask[gu]
                    while mg:
                        r1[trailing_zeros(mg)] += c
                        mg &= mg - one
                for s in range(d):
                    dst_s = _U(slot_player[so + s])
                    outT[dst_s, _U(lo + j)] += r1[s] - ng * ((bx >> _U(s)) & one)
                    r1[s] = 0.0


@njit(cache=_CACHE, nogil=True, parallel=True)
def _explain_parallel(
    XT: Any,
    outT: Any,
    margins: Any,
    plan: Any,
    bg_margin: Any,
    bg_sigmoid: Any,
    base: float,
    weighted: bool,
    link: int,
    max_nodes: int,
    max_d: int,
    block: int,
) -> None:
    """Blocks of leads across numba's threads; each block owns its columns of ``outT``."""
    n = XT.shape[1]
    n_blocks = (n + block - 1) // block
    for k in prange(n_blocks):
        lo = k * block
        hi = min(n, lo + block)
        _explain_block(
            XT, lo, hi, outT, margins, plan, bg_margin, bg_sigmoid, base, weighted, link,
            max_nodes, max_d,
        )  # fmt: skip


def _space(output_space: str) -> Literal["margin", "probability", "response"]:
    if output_space in ("margin", "log_odds", "raw"):
        return "margin"
    if output_space in ("probability", "response"):
        return output_space  # type: ignore[return-value]
    raise ParameterError(
        "output_space must be 'probability', 'response' or 'margin' (also spelt 'log_odds' "
        f"or 'raw'); got {output_space!r}."
    )


def _apply_link(link: str, m: FloatArray) -> FloatArray:
    """The link the rescaling uses, on an array of margins."""
    if link == "exp":
        out: FloatArray = np.exp(m)
        return out
    if link == "softplus":
        return np.asarray(np.logaddexp(0.0, m), dtype=np.float64)
    return _sigmoid_array(m)


class InterventionalTreeCore:
    """Exact interventional TreeSHAP of one ensemble output against background rows.

    Parameters
    ----------
    ensemble : TreeEnsemble
        A compiled model (:func:`compile_ensemble`).
    background : array-like of shape (n_background, n_features)
        The reference rows, in the model's input space.
    groups : array-like of int of shape (n_features,), optional
        ``groups[j]`` is the player of model column ``j``; columns sharing a player (a one-hot
        block) are one player of the game. Default: each column is its own player.
    output : int, default 0
        Which output (class margin) to explain.
    output_space : {"probability", "margin", "log_odds", "raw"}, default "probability"
        ``"margin"`` (or ``"log_odds"``, ``"raw"``: the ensemble's own output): the exact
        Shapley values of ``v(S) = mean_b margin(x_S, b_~S)``. ``"probability"``: for each
        background row the margin game's Shapley values rescaled by ``(sigmoid(m(x)) -
        sigmoid(m(b))) / (m(x) - m(b))``, then averaged, as shap's interventional
        ``TreeExplainer`` with ``model_output="probability"``. They add up to
        ``sigmoid(m(x))`` exactly but are not the Shapley values of the probability game.
        ``"response"``: the same rescaling with the ensemble's own link ``f``
        (``ensemble.link``: ``"logistic"``, ``"exp"`` for Poisson, gamma and Tweedie,
        ``"softplus"``), by ``(f(m(x)) - f(m(b))) / (m(x) - m(b))``, or ``f'(m(b))`` at equal
        margins; they add up to ``f(m(x))``, the regressor's ``predict``.

    Attributes
    ----------
    expected_value : float
        The base value: ``mean_b m(b)`` in margin space, ``mean_b f(m(b))`` in probability
        (``f`` the sigmoid) and response space.
    background_margins : ndarray of float64 of shape (n_background,)
        ``m(b)`` of each background row (the explained output's margin).
    n_players : int
        Number of players (columns of the returned values).
    n_background : int
        Number of background rows.
    n_groups : int
        Background groups over all leaves (rows sharing a fail mask at a leaf share a group).
    max_path_players : int
        Most distinct players on one root-to-leaf path.
    nbytes : int
        Bytes held by the precomputation.

    Raises
    ------
    ParameterError
        If ``output``, ``output_space`` or ``groups`` is out of range.
    InputError
        If ``background`` is not a non-empty matrix of the model's columns.
    UnsupportedModelError
        In probability space, for an ensemble that is not one logistic margin (multiclass
        softmax, forests averaging probabilities); and for paths with more than 63 distinct
        players.
    """

    def __init__(
        self,
        ensemble: TreeEnsemble,
        background: Any,
        *,
        groups: Any = None,
        output: int = 0,
        output_space: Space = "probability",
    ) -> None:
        space = _space(output_space)
        if not 0 <= int(output) < ensemble.n_outputs:
            raise ParameterError(
                f"output must be in [0, {ensemble.n_outputs}) for {ensemble.source}; got {output}."
            )
        link = "logistic" if space == "probability" else ensemble.link
        if space == "response" and (ensemble.native_space != "margin" or link not in LINK_CODES):
            raise UnsupportedModelError(
                f"{ensemble.source} applies the link {link!r} to its margin: the rescaled "
                "interventional values in response space exist for the logistic, exp and "
                "softplus links. Explain the margin (output_space='margin'), or use "
                "method='kernel' for the exact Shapley values of the response game."
            )
        if space == "probability" and (
            ensemble.n_outputs != 1 or ensemble.native_space != "margin"
        ):
            what = (
                f"{ensemble.n_outputs} class margins joined by a softmax"
                if ensemble.native_space == "margin"
                else "averaged class probabilities"
            )
            raise UnsupportedModelError(
                f"{ensemble.source} outputs {what}: the rescaled interventional values in "
                "probability space exist only for one logistic margin (binary classifiers), "
                "as in shap. Explain the margin (output_space='log_odds'), or use "
                "method='kernel' for the exact Shapley values of the probability game."
            )
        bg = ensemble.prepare_input(background)
        if bg.shape[0] == 0:
            raise InputError("background must hold at least one row.")
        self.ensemble = ensemble
        self.output = int(output)
        self.output_space: Literal["margin", "probability", "response"] = space
        self.link = link if space != "margin" else "identity"
        self._link_code = LINK_CODES.get(link, 0)
        player, self.n_players = _check_groups(groups, ensemble.n_features)
        lay = tree_layout(ensemble, self.output, player)
        p_left, p_right, p_parent, p_slot = lay.p_left, lay.p_right, lay.p_parent, lay.p_slot
        p_player, p_value, leaves, leaf_d = lay.p_player, lay.p_value, lay.leaves, lay.leaf_d
        tree_node_start, tree_internal = lay.tree_node_start, lay.tree_internal
        self.max_path_players = int(leaf_d.max()) if leaf_d.size else 0
        if self.max_path_players > MAX_SLOTS:
            raise UnsupportedModelError(
                f"{ensemble.source} has a path through {self.max_path_players} distinct "
                f"players; the interventional tree core handles at most {MAX_SLOTS}."
            )
        tree_leaf_start = lay.tree_leaf_start
        leaf_slot, slot_player = _leaf_slots(leaves, leaf_d, p_parent, p_slot, p_player)
        counts = np.diff(tree_node_start)
        self._max_nodes = int(counts.max()) if counts.size else 1
        self._max_d = self.max_path_players
        node_arrays = lay.node_arrays
        weighted = space != "margin"
        (leaf_group_start, leaf_and, group_mask, group_na, group_count, group_first, members) = (
            _build_groups(
                bg, node_arrays, p_left, p_right, p_slot, tree_node_start, tree_internal,
                tree_leaf_start, leaves, self._max_nodes, weighted,
            )
        )  # fmt: skip
        self.n_background = int(bg.shape[0])
        self.n_groups = int(group_mask.shape[0])
        # Margin space weighs a group by its share of the background, probability space by its
        # rows' factors (summed per lead).
        group_w = group_count / float(self.n_background) if not weighted else np.empty(0)
        # Narrow types where they fit: a single lead streams these arrays once per call, so
        # their size is its latency on models larger than the cache.
        small = np.uint16 if self.n_background <= np.iinfo(np.uint16).max else np.int32
        members = members.astype(small)
        group_first = group_first.astype(small)
        group_count = group_count.astype(small)
        group_na = group_na.astype(np.int8)
        if self.max_path_players < 32:
            group_mask = group_mask.astype(np.uint32)
        self._plan: tuple[Any, ...] = (
            *node_arrays, p_left, p_right, p_slot, p_value, tree_node_start, tree_internal,
            tree_leaf_start, leaves, leaf_d, leaf_slot, slot_player, leaf_group_start, leaf_and,
            group_mask, group_na, group_w, group_first, group_count, members,
            _shapley_table(max(self._max_d, 1)),
        )  # fmt: skip
        self._offset = float(ensemble.base_offset[self.output])
        # The ensemble's own predict: the same trees, in the same order, as the plan holds.
        margins = np.ascontiguousarray(ensemble.predict_raw(bg)[:, self.output])
        self.background_margins = margins
        # f(m(b)): the rescaling's f(mb) (the sigmoid in probability space).
        self._bg_sigmoid = _apply_link(self.link, margins)
        self._weighted = weighted
        if weighted:
            self.expected_value = float(np.mean(self._bg_sigmoid))
        else:
            self.expected_value = float(np.mean(margins))
        self.nbytes = int(sum(a.nbytes for a in self._plan) + 2 * margins.nbytes)

    def shap_values(self, X: Any, *, n_threads: int = 1) -> FloatArray:
        """Exact interventional values of each row (see the class for the two spaces).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Rows in the model's input space.
        n_threads : int, default 1
            Numba threads; the values do not depend on it (bit for bit).

        Returns
        -------
        ndarray of float64 of shape (n_rows, n_players)
            ``expected_value + values.sum(1)`` equals :meth:`predict`.
        """
        return self.values_and_output(X, n_threads=n_threads)[0]

    def values_and_output(self, X: Any, *, n_threads: int = 1) -> tuple[FloatArray, FloatArray]:
        """The values and the explained output of each row, from one pass.

        Returns
        -------
        values : ndarray of float64 of shape (n_rows, n_players)
        output : ndarray of float64 of shape (n_rows,)
            The margin, or its sigmoid in probability space.
        """
        rows = self.ensemble.prepare_input(X)
        if n_threads < 1:
            raise ParameterError(f"n_threads must be >= 1; got {n_threads}.")
        n = rows.shape[0]
        XT = np.ascontiguousarray(rows.T)
        outT = np.zeros((self.n_players, n), dtype=np.float64)
        margins = np.empty(n, dtype=np.float64)
        args = (
            XT, outT, margins, self._plan, self.background_margins, self._bg_sigmoid,
            self._offset, self._weighted, self._link_code, self._max_nodes, max(self._max_d, 1),
        )  # fmt: skip
        threads = min(n_threads, _max_threads())
        # Smaller blocks when there are few leads, so every thread gets some; one thread runs
        # the blocks in order.
        block = _BLOCK if threads == 1 else max(8, min(_BLOCK, -(-n // threads)))
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            _explain_parallel(*args, block)
        finally:
            numba.set_num_threads(previous)
        output = _apply_link(self.link, margins) if self._weighted else margins
        return np.ascontiguousarray(outT.T), output

    def predict(self, X: Any) -> FloatArray:
        """The explained output of each row: its margin, or the margin's sigmoid.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)

        Returns
        -------
        ndarray of float64 of shape (n_rows,)
        """
        margins = self.ensemble.predict_raw(X)[:, self.output]
        return _apply_link(self.link, margins) if self._weighted else margins


def _sigmoid_array(m: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(m, -700.0, 700.0)))
    return out


@njit(cache=_CACHE, nogil=True)
def _leaf_slots(leaves: Any, leaf_d: Any, p_parent: Any, p_slot: Any, p_player: Any) -> Any:
    """Offset of each leaf's slots in the slot arrays, and the player of every slot."""
    leaf_slot = np.zeros(leaves.shape[0], dtype=np.int64)
    total = 0
    for lf in range(leaves.shape[0]):
        leaf_slot[lf] = total
        total += leaf_d[lf]
    slot_player = np.zeros(total, dtype=np.int32)
    for lf in range(leaves.shape[0]):
        c = leaves[lf]
        while p_parent[c] >= 0:
            p = p_parent[c]
            slot_player[leaf_slot[lf] + p_slot[p]] = p_player[p]
            c = p
    return leaf_slot, slot_player


def interventional_shap(
    ensemble: TreeEnsemble,
    X: Any,
    background: Any,
    *,
    groups: Any = None,
    output: int = 0,
    output_space: Space = "probability",
    n_threads: int = 1,
) -> tuple[FloatArray, float]:
    """Exact interventional tree values against background rows (one call, no reuse).

    Parameters
    ----------
    ensemble : TreeEnsemble
        A compiled model (:func:`compile_ensemble`).
    X : array-like of shape (n_rows, n_features)
        Rows in the model's input space.
    background : array-like of shape (n_background, n_features)
        The reference rows.
    groups : array-like of int of shape (n_features,), optional
        Player of each model column (see :class:`InterventionalTreeCore`).
    output : int, default 0
        Which output (class margin) to explain.
    output_space : {"probability", "margin", "log_odds", "raw"}, default "probability"
        See :class:`InterventionalTreeCore`.
    n_threads : int, default 1
        Numba threads.

    Returns
    -------
    values : ndarray of float64 of shape (n_rows, n_players)
    expected_value : float
        ``expected_value + values.sum(1)`` is the explained output (margin or probability).
    """
    core = InterventionalTreeCore(
        ensemble, background, groups=groups, output=output, output_space=output_space
    )
    return core.shap_values(X, n_threads=n_threads), core.expected_value
