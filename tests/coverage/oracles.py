"""What each case's values must equal, computed without explainscore's kernels.

An oracle returns the expected values ``(n_rows, n_columns)`` and base values ``(n_rows,)``
of the explained rows. The games:

* **path-dependent tree game**: the boosters' own contributions (XGBoost
  ``pred_contribs``, LightGBM ``pred_contrib``, CatBoost ``ShapValues``) or brute force over
  all coalitions of the compiled trees (``tests/tree/bruteforce.py``, which re-implements the
  split rule and evaluates every coalition itself);
* **interventional game** ``v(S) = mean_b f(x_S, b_~S)``: brute force over all coalitions
  (``tests/attribution/bruteforce.py``) with ``f`` the model's *own* output in the explained
  space (``predict_proba``, ``decision_function``, ``output_margin``, ``predict``);
* **rescaled interventional** (probability of boosted classifiers, response of regressors with
  a link): per background row ``b`` the brute-force Shapley values of the margin game
  ``m_b(S) = margin(x_S, b_~S)`` times ``(f(m(x)) - f(m(b))) / (m(x) - m(b))``, averaged.
"""

from __future__ import annotations

import importlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from explainscore.attribution.tree import compile_ensemble

from ..attribution.bruteforce import interventional_shapley
from ..tree.bruteforce import brute_force_shap

#: The model's own output in the explained space: f(model, frame) -> (n,).
Output = Callable[[Any, pd.DataFrame], np.ndarray]
Values = tuple[np.ndarray, np.ndarray]


@dataclass
class Fitted:
    """A fitted model, the rows explained and the rows offered as background."""

    model: Any
    background: pd.DataFrame
    rows: pd.DataFrame
    #: Options the case's oracle needs (cat_features, missing sentinel, ...).
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Oracle:
    """A named oracle: ``fn(fitted, background_used) -> (values, base_values)``."""

    name: str
    fn: Callable[[Fitted, pd.DataFrame], Values] | None = None


def _quiet(f: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f()


# --- the model's own outputs ---------------------------------------------------------------


def _column(out: Any, k: int | None) -> np.ndarray:
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim == 2 and k is not None:
        return np.asarray(arr[:, k])
    return arr.reshape(-1)


def proba(t: int = 1) -> Output:
    return lambda m, F: _column(_quiet(lambda: m.predict_proba(F)), t)


def decision(t: int | None = None) -> Output:
    return lambda m, F: _column(_quiet(lambda: m.decision_function(F)), t)


def predict(k: int | None = None) -> Output:
    return lambda m, F: _column(_quiet(lambda: m.predict(F)), k)


def xgb_margin(k: int | None = None, missing: float = np.nan) -> Output:
    def f(m: Any, F: pd.DataFrame) -> np.ndarray:
        import xgboost as xgb

        if isinstance(m, xgb.Booster):
            dm = xgb.DMatrix(F, missing=missing, enable_categorical=True)
            return _column(m.predict(dm, output_margin=True), k)
        return _column(m.predict(F, output_margin=True), k)

    return f


def lgb_raw(k: int | None = None, scale: float = 1.0) -> Output:
    return lambda m, F: _column(_quiet(lambda: m.predict(F, raw_score=True)), k) / scale


def sk_raw(k: int = 0) -> Output:
    """HistGradientBoosting's margin (``_raw_predict``: what its link is applied to)."""
    return lambda m, F: _column(m._raw_predict(F), k)


def catboost_raw(k: int | None = None) -> Output:
    return lambda m, F: _column(m.predict(F, prediction_type="RawFormulaVal"), k)


# --- path-dependent tree game --------------------------------------------------------------


def _pick(contribs: np.ndarray, n_rows: int, n_cols: int, k: int) -> Values:
    arr = np.asarray(contribs, dtype=np.float64).reshape(n_rows, -1, n_cols + 1)[:, k]
    return arr[:, :-1], arr[:, -1]


def xgb_contribs(k: int = 0) -> Oracle:
    def fn(fit: Fitted, bg: pd.DataFrame) -> Values:
        import xgboost as xgb

        model = fit.model
        booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        missing = fit.info.get("missing", np.nan)
        dm = xgb.DMatrix(fit.rows, missing=missing, enable_categorical=True)
        return _pick(booster.predict(dm, pred_contribs=True), *fit.rows.shape, k)

    return Oracle("XGBoost pred_contribs", fn)


def lgb_contribs(k: int = 0, scale: float = 1.0) -> Oracle:
    def fn(fit: Fitted, bg: pd.DataFrame) -> Values:
        values, base = _pick(fit.model.predict(fit.rows, pred_contrib=True), *fit.rows.shape, k)
        return values / scale, base / scale

    return Oracle("LightGBM pred_contrib" + (" / n_trees" if scale != 1.0 else ""), fn)


def catboost_shap(k: int = 0) -> Oracle:
    def fn(fit: Fitted, bg: pd.DataFrame) -> Values:
        catboost = importlib.import_module("catboost")  # ships no type information
        pool = catboost.Pool(fit.rows, cat_features=fit.info.get("cat_features"))
        sv = fit.model.get_feature_importance(pool, type="ShapValues")
        return _pick(sv, *fit.rows.shape, k)

    return Oracle("CatBoost ShapValues", fn)


def brute_tree(k: int = 0) -> Oracle:
    """Brute force over the compiled trees. A Pipeline's steps before the model are applied
    with their own ``transform``; each transformed column is mapped to the raw column its
    name starts with (a one-hot block is one player)."""

    def fn(fit: Fitted, bg: pd.DataFrame) -> Values:
        model, rows, groups = fit.model, fit.rows, None
        if hasattr(model, "steps"):
            pre = model[:-1]
            names = [str(n) for n in pre.get_feature_names_out()]
            cols = list(rows.columns)
            groups = np.array([_raw_of(n, cols) for n in names])
            rows = pd.DataFrame(_to_dense(pre.transform(rows)), columns=names)
            model = model[-1]
        codes = fit.info.get("model_rows")
        X = codes(rows) if codes is not None else rows.to_numpy(dtype=np.float64)
        ens = compile_ensemble(model)
        values, empty = brute_force_shap(ens, X, groups=groups, output=k)
        return values, np.full(len(values), empty)

    return Oracle("brute force (path-dependent)", fn)


def _to_dense(a: Any) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=np.float64)


def _raw_of(name: str, cols: list[str]) -> int:
    bare = name.split("__", 1)[-1]
    hits = [i for i, c in enumerate(cols) if bare == c or bare.startswith(c + "_")]
    return max(hits, key=lambda i: len(cols[i]))


# --- interventional games ------------------------------------------------------------------


def _restore(arr: np.ndarray, like: pd.DataFrame) -> pd.DataFrame:
    """Rows (object array) as a frame with the background's dtypes, as the user holds it."""
    frame = pd.DataFrame(arr, columns=like.columns)
    for c in like.columns:
        dtype = like[c].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            frame[c] = pd.Categorical(frame[c], categories=dtype.categories)
        elif not pd.api.types.is_object_dtype(dtype):
            as_dtype: Any = dtype
            frame[c] = pd.array(frame[c].tolist(), dtype=as_dtype)
    return frame


def _as_array(frame: pd.DataFrame) -> np.ndarray:
    numeric = all(
        pd.api.types.is_float_dtype(frame[c]) and isinstance(frame[c].dtype, np.dtype)
        for c in frame
    )
    return frame.to_numpy(dtype=np.float64 if numeric else object)


def _replayed(run: Callable[[Callable[[np.ndarray], np.ndarray]], Any], score: Any) -> Any:
    """``run(f)`` with every hybrid row scored by one call of ``score``: the brute force is
    run twice, first recording the rows it asks ``f`` about, then answering from one batch
    (its order of calls does not depend on the answers). One model call instead of thousands
    keeps the whole table within a minute."""
    asked: list[np.ndarray] = []

    def record(rows: np.ndarray) -> np.ndarray:
        asked.append(rows.copy())
        return np.zeros(len(rows))

    run(record)
    answers = iter(np.split(score(np.concatenate(asked)), np.cumsum([len(a) for a in asked])))

    def answer(rows: np.ndarray) -> np.ndarray:
        out: np.ndarray = next(answers)
        assert len(out) == len(rows)
        return out

    return run(answer)


def brute_interventional(out: Output) -> Oracle:
    """The interventional game of ``out`` (the model's own output), every coalition."""

    def fn(fit: Fitted, bg: pd.DataFrame) -> Values:
        b = _as_array(bg)

        def run(f: Callable[[np.ndarray], np.ndarray]) -> list[tuple[np.ndarray, float]]:
            return [interventional_shapley(f, x, b) for x in _as_array(fit.rows)]

        pairs = _replayed(run, lambda rows: out(fit.model, _restore(rows, bg)))
        return np.array([p for p, _ in pairs]), np.array([e for _, e in pairs])

    return Oracle("brute force (interventional)", fn)


def rescaled(margin: Output, response: Output, link: str) -> Oracle:
    """Per background row, the margin game's Shapley values rescaled to the response's
    difference (the link's derivative at equal margins; 1 for the logistic, as shap does)."""

    def fn(fit: Fitted, bg: pd.DataFrame) -> Values:
        b_all = _as_array(bg)
        m_bg, r_bg = margin(fit.model, bg), response(fit.model, bg)
        m_x, r_x = margin(fit.model, fit.rows), response(fit.model, fit.rows)

        def run(f: Callable[[np.ndarray], np.ndarray]) -> list[list[np.ndarray]]:
            return [
                [interventional_shapley(f, x, b_all[j : j + 1])[0] for j in range(len(b_all))]
                for x in _as_array(fit.rows)
            ]

        per_row = _replayed(run, lambda rows: margin(fit.model, _restore(rows, bg)))
        values = []
        for i, phis in enumerate(per_row):
            total = np.zeros(fit.rows.shape[1])
            for j, phi in enumerate(phis):
                gap = float(m_x[i] - m_bg[j])
                if gap == 0.0:
                    factor = math.exp(float(m_bg[j])) if link == "exp" else 1.0
                else:
                    factor = float(r_x[i] - r_bg[j]) / gap
                total += phi * factor
            values.append(total / len(b_all))
        return np.array(values), np.full(len(values), float(np.mean(r_bg)))

    return Oracle("brute force (rescaled interventional)", fn)
