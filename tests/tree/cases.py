"""Small fitted models of every supported family, with the library's own raw output.

Each case is ``(model, X, native)``: ``X`` is a float matrix in the model's input space
(categorical columns hold integer codes, NaN where missing) and ``native(X)`` returns the
library's own output before any link, shape (n, n_outputs).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn import ensemble, tree

Native = Callable[[np.ndarray], np.ndarray]
Case = tuple[Any, np.ndarray, Native]

N_ROWS = 400
N_FEATURES = 6


def make_data(
    seed: int = 0,
    *,
    n: int = N_ROWS,
    p: int = N_FEATURES,
    nan_rate: float = 0.0,
    n_classes: int = 2,
    categorical: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (with optional NaNs and one integer-coded column), labels, and a target."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    if categorical is not None:
        X[:, categorical] = rng.integers(0, 7, size=n)
    score = X[:, 0] + 0.8 * X[:, 1] * X[:, 2] - 0.5 * np.abs(X[:, 3]) + 0.3 * rng.normal(size=n)
    if categorical is not None:
        score += np.where(np.isin(X[:, categorical], [1, 4, 5]), 1.0, -0.5)
    y_reg = score.copy()
    if n_classes == 2:
        y = (score > np.median(score)).astype(int)
    else:
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
    if nan_rate:
        mask = rng.random(size=X.shape) < nan_rate
        mask[:, 0] = False
        X[mask] = np.nan
    return X, y, y_reg


def _two_d(a: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    return arr.reshape(arr.shape[0], -1)


def _xgb_margin(model: Any) -> Native:
    return lambda X: _two_d(model.predict(X, output_margin=True))


def _lgb_raw(model: Any) -> Native:
    return lambda X: _two_d(model.predict(X, raw_score=True))


def _proba(model: Any) -> Native:
    return lambda X: _two_d(model.predict_proba(X))


def _predict(model: Any) -> Native:
    return lambda X: _two_d(model.predict(X))


def _decision(model: Any) -> Native:
    return lambda X: _two_d(model.decision_function(X))


XGB = {"n_jobs": 1, "max_depth": 3, "n_estimators": 12}
LGB = {"n_jobs": 1, "num_leaves": 8, "n_estimators": 12, "verbose": -1, "min_child_samples": 5}


def _xgb_frame(A: np.ndarray) -> pd.DataFrame:
    """Column 2 as a pandas categorical (codes 0..6, NaN missing), the rest as floats."""
    df = pd.DataFrame(A, columns=[f"f{i}" for i in range(A.shape[1])])
    codes = np.where(np.isnan(A[:, 2]), -1, A[:, 2]).astype(int)
    df["f2"] = pd.Categorical.from_codes(codes, categories=list(range(7)))
    return df


def _xgb_categorical() -> Case:
    X, y, _ = make_data(3, nan_rate=0.1, categorical=2)
    frame = _xgb_frame
    model = xgb.XGBClassifier(**XGB, enable_categorical=True, max_cat_to_onehot=1)
    model.fit(frame(X), y)
    return model, X, lambda A: _two_d(model.predict(frame(A), output_margin=True))


def _xgb_booster() -> Case:
    X, _, y_reg = make_data(4, nan_rate=0.1)
    booster = xgb.train(
        {"max_depth": 3, "nthread": 1, "objective": "reg:squarederror"},
        xgb.DMatrix(X, label=y_reg),
        num_boost_round=8,
    )
    return booster, X, lambda A: _two_d(booster.predict(xgb.DMatrix(A), output_margin=True))


def _lgb_categorical() -> Case:
    X, y, _ = make_data(5, nan_rate=0.1, categorical=2)
    model = lgb.LGBMClassifier(**LGB, min_data_per_group=5, cat_smooth=1.0)
    model.fit(X, y, categorical_feature=[2])
    return model, X, _lgb_raw(model)


def _lgb_booster_zero_missing() -> Case:
    X, _, y_reg = make_data(6, nan_rate=0.1)
    X[::7, 1] = 0.0
    booster = lgb.train(
        {"num_leaves": 8, "verbose": -1, "num_threads": 1, "zero_as_missing": True},
        lgb.Dataset(X, label=y_reg),
        num_boost_round=8,
    )
    return booster, X, lambda A: _two_d(booster.predict(A, raw_score=True))


def _lgb_no_missing() -> Case:
    # Trained without NaN (missing_type None): NaN at predict time is read as zero.
    X, _, y_reg = make_data(7)
    model = lgb.LGBMRegressor(**LGB, use_missing=False).fit(X, y_reg)
    Xt = X.copy()
    Xt[::3, 1] = np.nan
    return model, Xt, _lgb_raw(model)


def _hgb_categorical(classifier: bool) -> Case:
    X, y, y_reg = make_data(8, nan_rate=0.1, categorical=2)
    X[X[:, 2] == 6, 2] = 5  # leave code 6 unseen, so the test rows hold an unknown category
    cls = (
        ensemble.HistGradientBoostingClassifier
        if classifier
        else ensemble.HistGradientBoostingRegressor
    )
    model = cls(max_iter=10, max_leaf_nodes=8, categorical_features=[2], random_state=0)
    model.fit(X, y if classifier else y_reg)
    Xt = make_data(9, nan_rate=0.1, categorical=2)[0]
    return model, Xt, _decision(model) if classifier else _predict(model)


def _fit(builder: Callable[[], Any], data: dict[str, Any], target: str, native: str) -> Case:
    X, y, y_reg = make_data(**data)
    model = builder().fit(X, y if target == "class" else y_reg)
    fn = {"margin": _xgb_margin, "raw": _lgb_raw, "proba": _proba, "predict": _predict,
          "decision": _decision}[native]  # fmt: skip
    return model, X, fn(model)


NAN = {"seed": 1, "nan_rate": 0.1}
MULTI = {"seed": 2, "n_classes": 3, "nan_rate": 0.05}
PLAIN = {"seed": 10}

FACTORIES: dict[str, Callable[[], Case]] = {
    "xgb-clf": lambda: _fit(lambda: xgb.XGBClassifier(**XGB), NAN, "class", "margin"),
    "xgb-multi": lambda: _fit(lambda: xgb.XGBClassifier(**XGB), MULTI, "class", "margin"),
    "xgb-reg": lambda: _fit(lambda: xgb.XGBRegressor(**XGB), NAN, "reg", "margin"),
    "xgb-poisson": lambda: _fit(
        lambda: xgb.XGBRegressor(**XGB, objective="count:poisson"),
        {"seed": 11},
        "class",
        "margin",
    ),
    "xgb-cat": _xgb_categorical,
    "xgb-booster": _xgb_booster,
    "lgb-clf": lambda: _fit(lambda: lgb.LGBMClassifier(**LGB), NAN, "class", "raw"),
    "lgb-multi": lambda: _fit(lambda: lgb.LGBMClassifier(**LGB), MULTI, "class", "raw"),
    "lgb-reg": lambda: _fit(lambda: lgb.LGBMRegressor(**LGB), NAN, "reg", "raw"),
    "lgb-cat": _lgb_categorical,
    "lgb-zero": _lgb_booster_zero_missing,
    "lgb-nomissing": _lgb_no_missing,
    "dt-clf": lambda: _fit(
        lambda: tree.DecisionTreeClassifier(max_depth=4, random_state=0), NAN, "class", "proba"
    ),
    "dt-reg": lambda: _fit(
        lambda: tree.DecisionTreeRegressor(max_depth=4, random_state=0), NAN, "reg", "predict"
    ),
    "rf-clf": lambda: _fit(
        lambda: ensemble.RandomForestClassifier(8, max_depth=4, random_state=0),
        NAN,
        "class",
        "proba",
    ),
    "rf-multi": lambda: _fit(
        lambda: ensemble.RandomForestClassifier(6, max_depth=4, random_state=0),
        MULTI,
        "class",
        "proba",
    ),
    "rf-reg": lambda: _fit(
        lambda: ensemble.RandomForestRegressor(6, max_depth=4, random_state=0),
        NAN,
        "reg",
        "predict",
    ),
    "et-clf": lambda: _fit(
        lambda: ensemble.ExtraTreesClassifier(6, max_depth=4, random_state=0),
        PLAIN,
        "class",
        "proba",
    ),
    "gb-clf": lambda: _fit(
        lambda: ensemble.GradientBoostingClassifier(n_estimators=8, max_depth=3),
        PLAIN,
        "class",
        "decision",
    ),
    "gb-multi": lambda: _fit(
        lambda: ensemble.GradientBoostingClassifier(n_estimators=5, max_depth=2),
        {"seed": 12, "n_classes": 3},
        "class",
        "decision",
    ),
    "gb-reg": lambda: _fit(
        lambda: ensemble.GradientBoostingRegressor(n_estimators=8, max_depth=3),
        PLAIN,
        "reg",
        "predict",
    ),
    "hgb-clf": lambda: _hgb_categorical(True),
    "hgb-reg": lambda: _hgb_categorical(False),
    "hgb-multi": lambda: _fit(
        lambda: ensemble.HistGradientBoostingClassifier(max_iter=6, max_leaf_nodes=6),
        MULTI,
        "class",
        "decision",
    ),
}


@cache
def get_case(name: str) -> Case:
    """The fitted case ``name`` (built once per test session)."""
    return FACTORIES[name]()
