"""One case per model x setting x output space: a small fitted model, the oracle its values
must match and the model's own output in the explained space (for efficiency).

Models are small (a few trees, 5 or 6 columns, 300 rows) so the whole table runs in about a
minute. A case states what is asked (``space``, ``kwargs``), never what should happen: the
harness records what the code does, and the oracle decides whether an explanation is exact.
"""

from __future__ import annotations

import importlib
import json
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .oracles import (
    Fitted,
    Oracle,
    Output,
    brute_interventional,
    brute_tree,
    catboost_raw,
    catboost_shap,
    decision,
    lgb_contribs,
    lgb_raw,
    predict,
    proba,
    rescaled,
    sk_raw,
    xgb_contribs,
    xgb_margin,
)

COLS = ["visits", "emails_opened", "tenure", "spend", "pages"]
SOURCES = ["web", "event", "referral", "partner"]
N_ROWS = 300
#: Background rows for the rescaled games (their oracle enumerates per background row).
SMALL_BG = 5


@dataclass(frozen=True)
class Case:
    """One row of the table."""

    library: str
    model: str
    setting: str
    build: Callable[[], Fitted]
    oracle: Oracle
    output: Output
    space: str = "auto"
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    n_background: int = 20
    #: The model computes in float32 (XGBoost, LightGBM leaves): tolerance 1e-5, else 1e-6.
    float32: bool = False


# --- data ---------------------------------------------------------------------------------


def _numeric(seed: int = 0, n: int = N_ROWS) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(COLS))), columns=COLS)
    s = X.visits + 0.8 * X.emails_opened * X.tenure - 0.5 * np.abs(X.spend) + 0.3 * X.pages
    s = s.to_numpy() + 0.3 * rng.normal(size=n)
    return X, {
        "bin": (s > np.median(s)).astype(int),
        "multi": np.digitize(s, np.quantile(s, [1 / 3, 2 / 3])),
        "reg": s,
        "pos": np.exp(0.4 * s) + 0.05,
        "prob": 1.0 / (1.0 + np.exp(-s)),
        "two": np.c_[s, 2.0 * X.pages.to_numpy() - X.visits.to_numpy()],
    }


def _with_source(seed: int = 1, as_category: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Four numeric columns and a lead source (pandas category, or text for encoders)."""
    X, _ = _numeric(seed)
    rng = np.random.default_rng(seed)
    source = rng.choice(SOURCES, size=len(X))
    X = X.drop(columns="pages")
    effect = dict(zip(SOURCES, [0.0, 1.2, -0.9, 0.5], strict=True))
    score = X.visits.to_numpy() + np.array([effect[s] for s in source])
    X["source"] = pd.Categorical(source, categories=SOURCES) if as_category else source
    return X, (score + 0.3 * rng.normal(size=len(X)) > 0.3).astype(int)


def _split(model: Any, X: pd.DataFrame, **info: Any) -> Fitted:
    return Fitted(model, X.iloc[:40].reset_index(drop=True), X.iloc[250:253], info)


def _fit(factory: Callable[[], Any], target: str, seed: int = 0) -> Callable[[], Fitted]:
    def build() -> Fitted:
        X, y = _numeric(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _split(factory().fit(X, y[target]), X)

    return build


# --- XGBoost --------------------------------------------------------------------------------


def _xgb_cls(**kw: Any) -> Callable[[], Any]:
    import xgboost as xgb

    return lambda: xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1, **kw)


def _xgb_reg(**kw: Any) -> Callable[[], Any]:
    import xgboost as xgb

    return lambda: xgb.XGBRegressor(n_estimators=8, max_depth=3, n_jobs=1, **kw)


def _xgb_sentinel() -> Fitted:
    X, y = _numeric(3)
    rng = np.random.default_rng(3)
    X = X.mask(rng.random(X.shape) < 0.2, -999.0)
    X.iloc[251, 1] = -999.0  # an explained row holds the sentinel
    model = _xgb_cls(missing=-999.0)().fit(X, y["bin"])
    return _split(model, X, missing=-999.0)


def _xgb_deleted_nodes() -> Fitted:
    """XGBoost's own test_shap case: gamma > 0 with the exact method prunes grown nodes."""
    import xgboost as xgb

    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.randn(N_ROWS, 5), columns=COLS)
    model = xgb.XGBRegressor(
        n_estimators=10, max_depth=5, gamma=2.0, base_score=1.0, tree_method="exact", n_jobs=1
    ).fit(X, rng.randn(N_ROWS))
    doc = json.loads(bytes(model.get_booster().save_raw("json")))
    trees = doc["learner"]["gradient_booster"]["model"]["trees"]
    assert sum(int(t["tree_param"]["num_deleted"]) for t in trees) > 0, "no deleted node"
    return _split(model, X)


def _xgb_booster() -> Fitted:
    import xgboost as xgb

    X, y = _numeric(4)
    booster = xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(X, label=y["reg"]), 8)
    return _split(booster, X)


def _categorical(factory: Callable[[], Any]) -> Callable[[], Fitted]:
    def build() -> Fitted:
        X, y = _with_source()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _split(factory().fit(X, y), X)

    return build


def _subclass() -> Fitted:
    import xgboost as xgb

    class LeadScorer(xgb.XGBClassifier):
        """A user's subclass, as lead-scoring teams write them."""

    X, y = _numeric(9)
    return _split(LeadScorer(n_estimators=8, max_depth=3, n_jobs=1).fit(X, y["bin"]), X)


def _xgboost_cases() -> list[Case]:
    lib, f32 = "XGBoost", True
    cases = [
        Case(lib, "XGBClassifier", "binary", _fit(_xgb_cls(), "bin"), xgb_contribs(),
             xgb_margin(), float32=f32),
        Case(lib, "XGBClassifier", "binary", _fit(_xgb_cls(), "bin"),
             rescaled(xgb_margin(), proba(1), "logistic"), proba(1), "probability",
             n_background=SMALL_BG, float32=f32),
        Case(lib, "XGBClassifier", "binary, method='kernel'", _fit(_xgb_cls(), "bin"),
             brute_interventional(proba(1)), proba(1), "probability", {"method": "kernel"},
             float32=f32),
        Case(lib, "XGBClassifier", "multiclass (3 classes), target_class=2",
             _fit(_xgb_cls(), "multi"), xgb_contribs(2), xgb_margin(2),
             kwargs={"target_class": 2}, float32=f32),
        Case(lib, "XGBClassifier", "multiclass (3 classes), target_class=2",
             _fit(_xgb_cls(), "multi"), brute_interventional(proba(2)), proba(2),
             "probability", {"target_class": 2}, float32=f32),
        Case(lib, "XGBClassifier", "objective='binary:logitraw'",
             _fit(_xgb_cls(objective="binary:logitraw"), "bin"), xgb_contribs(), xgb_margin(),
             float32=f32),
        Case(lib, "XGBClassifier", "missing=-999 sentinel", _xgb_sentinel, xgb_contribs(),
             xgb_margin(), float32=f32),
        Case(lib, "XGBClassifier", "native categorical (enable_categorical=True)",
             _categorical(_xgb_cls(enable_categorical=True, max_cat_to_onehot=1)),
             xgb_contribs(), xgb_margin(), float32=f32),
        Case(lib, "XGBClassifier", "native categorical (enable_categorical=True)",
             _categorical(_xgb_cls(enable_categorical=True, max_cat_to_onehot=1)),
             rescaled(xgb_margin(), proba(1), "logistic"), proba(1), "probability",
             n_background=SMALL_BG, float32=f32),
        Case(lib, "XGBClassifier", "native categorical, method='kernel'",
             _categorical(_xgb_cls(enable_categorical=True, max_cat_to_onehot=1)),
             brute_interventional(proba(1)), proba(1), "probability", {"method": "kernel"},
             float32=f32),
        Case(lib, "XGBClassifier", "user subclass", _subclass, xgb_contribs(), xgb_margin(),
             float32=f32),
        Case(lib, "XGBClassifier", "booster='gblinear'",
             _fit(_xgb_cls(booster="gblinear"), "bin"), brute_interventional(xgb_margin()),
             xgb_margin(), float32=f32),
        Case(lib, "XGBClassifier", "booster='gblinear'",
             _fit(_xgb_cls(booster="gblinear"), "bin"), brute_interventional(proba(1)),
             proba(1), "probability", float32=f32),
        Case(lib, "XGBClassifier", "booster='gblinear', method='tree'",
             _fit(_xgb_cls(booster="gblinear"), "bin"), brute_interventional(xgb_margin()),
             xgb_margin(), kwargs={"method": "tree"}, float32=f32),
        Case(lib, "XGBRegressor", "reg:squarederror", _fit(_xgb_reg(), "reg"), xgb_contribs(),
             predict(), float32=f32),
        Case(lib, "XGBRegressor", "deleted nodes (gamma=2, tree_method='exact')",
             _xgb_deleted_nodes, xgb_contribs(), predict(), float32=f32),
        Case(lib, "XGBRegressor", "2 targets, target=1", _fit(_xgb_reg(), "two"),
             xgb_contribs(1), predict(1), kwargs={"target": 1}, float32=f32),
        Case(lib, "XGBRegressor", "2 targets, multi_strategy='multi_output_tree', target=1",
             _fit(_xgb_reg(multi_strategy="multi_output_tree", tree_method="hist"), "two"),
             brute_tree(1), predict(1), kwargs={"target": 1}, float32=f32),
        Case(lib, "Booster (xgb.train)", "reg:squarederror", _xgb_booster, xgb_contribs(),
             xgb_margin(), float32=f32),
    ]  # fmt: skip
    for objective, target, link in [
        ("count:poisson", "pos", "exp"),
        ("reg:gamma", "pos", "exp"),
        ("reg:tweedie", "pos", "exp"),
        ("reg:logistic", "prob", "logistic"),
    ]:
        build = _fit(_xgb_reg(objective=objective), target)
        setting = f"objective='{objective}'"
        cases += [
            Case(lib, "XGBRegressor", setting, build, xgb_contribs(), xgb_margin(), "margin",
                 float32=f32),
            Case(lib, "XGBRegressor", setting, build,
                 rescaled(xgb_margin(), predict(), link), predict(), "response",
                 n_background=SMALL_BG, float32=f32),
        ]  # fmt: skip
    return cases


# --- LightGBM -------------------------------------------------------------------------------


def _lgb(cls: str, **kw: Any) -> Callable[[], Any]:
    import lightgbm as lgb

    params = {"n_estimators": 8, "num_leaves": 8, "verbose": -1, "n_jobs": 1, **kw}
    return lambda: getattr(lgb, cls)(**params)


_RF = {"boosting_type": "rf", "subsample": 0.7, "subsample_freq": 1}


def _lgb_booster() -> Fitted:
    import lightgbm as lgb

    X, y = _numeric(8)
    params = {"objective": "binary", "num_leaves": 8, "verbose": -1, "num_threads": 1}
    return _split(lgb.train(params, lgb.Dataset(X, label=y["bin"]), 8), X)


def _lightgbm_cases() -> list[Case]:
    lib, f32 = "LightGBM", True
    cases = [
        Case(lib, "LGBMClassifier", "binary", _fit(_lgb("LGBMClassifier"), "bin"),
             lgb_contribs(), lgb_raw(), float32=f32),
        Case(lib, "LGBMClassifier", "binary", _fit(_lgb("LGBMClassifier"), "bin"),
             rescaled(lgb_raw(), proba(1), "logistic"), proba(1), "probability",
             n_background=SMALL_BG, float32=f32),
        Case(lib, "LGBMClassifier", "multiclass (3 classes), target_class=2",
             _fit(_lgb("LGBMClassifier"), "multi"), lgb_contribs(2), lgb_raw(2),
             kwargs={"target_class": 2}, float32=f32),
        Case(lib, "LGBMClassifier", "multiclass (3 classes), target_class=2",
             _fit(_lgb("LGBMClassifier"), "multi"), brute_interventional(proba(2)), proba(2),
             "probability", {"target_class": 2}, float32=f32),
        Case(lib, "LGBMClassifier", "boosting_type='rf'",
             _fit(_lgb("LGBMClassifier", **_RF), "bin"), lgb_contribs(scale=8.0),
             lgb_raw(scale=8.0), float32=f32),
        Case(lib, "LGBMClassifier", "native categorical (category dtype)",
             _categorical(_lgb("LGBMClassifier", min_child_samples=5, min_data_per_group=5,
                               max_cat_to_onehot=1)),
             lgb_contribs(), lgb_raw(), float32=f32),
        Case(lib, "LGBMClassifier", "native categorical (category dtype)",
             _categorical(_lgb("LGBMClassifier", min_child_samples=5, min_data_per_group=5,
                               max_cat_to_onehot=1)),
             rescaled(lgb_raw(), proba(1), "logistic"), proba(1), "probability",
             n_background=SMALL_BG, float32=f32),
        Case(lib, "LGBMRegressor", "regression", _fit(_lgb("LGBMRegressor"), "reg"),
             lgb_contribs(), predict(), float32=f32),
        Case(lib, "LGBMRegressor", "boosting_type='rf'",
             _fit(_lgb("LGBMRegressor", **_RF), "reg"), lgb_contribs(scale=8.0), predict(),
             float32=f32),
        Case(lib, "Booster (lgb.train)", "binary", _lgb_booster, lgb_contribs(), lgb_raw(),
             float32=f32),
    ]  # fmt: skip
    for objective, target, link in [
        ("poisson", "pos", "exp"),
        ("gamma", "pos", "exp"),
        ("tweedie", "pos", "exp"),
        ("cross_entropy", "prob", "logistic"),
    ]:
        build = _fit(_lgb("LGBMRegressor", objective=objective), target)
        setting = f"objective='{objective}'"
        cases += [
            Case(lib, "LGBMRegressor", setting, build, lgb_contribs(), lgb_raw(), "margin",
                 float32=f32),
            Case(lib, "LGBMRegressor", setting, build, rescaled(lgb_raw(), predict(), link),
                 predict(), "response", n_background=SMALL_BG, float32=f32),
        ]  # fmt: skip
    return cases


# --- CatBoost -------------------------------------------------------------------------------


def _cb(cls: str, target: str | None = None, cats: int = 0, **kw: Any) -> Callable[[], Fitted]:
    """A CatBoost model on numeric columns, or with ``cats`` text category columns."""

    def build() -> Fitted:
        catboost = importlib.import_module("catboost")  # ships no type information
        params = {"iterations": 10, "depth": 3, "verbose": 0, "random_seed": 0,
                  "allow_writing_files": False, "thread_count": 1, **kw}  # fmt: skip
        if cats == 0:
            X, y = _numeric(12)
            return _split(getattr(catboost, cls)(**params).fit(X, y[target or "bin"]), X)
        X, yc = _with_source(12, as_category=False)
        if cats == 2:  # the target needs the pair (source, region): CTRs that combine both
            rng = np.random.default_rng(12)
            X["region"] = rng.choice(["north", "south", "east"], size=len(X))
            pair = (X.source.isin(["web", "event"])) == (X.region == "north")
            yc = (pair.to_numpy() ^ (rng.random(len(X)) < 0.1)).astype(int)
            params.update(iterations=60, max_ctr_complexity=2, one_hot_max_size=1)
        cat_features = [c for c in ("source", "region") if c in X]
        model = getattr(catboost, cls)(cat_features=cat_features, **params).fit(X, yc)
        if cats == 2:
            with tempfile.TemporaryDirectory() as tmp:
                model.save_model(f"{tmp}/m.json", format="json")
                ctrs = json.loads(Path(f"{tmp}/m.json").read_text())["features_info"]["ctrs"]
            assert any(len(c["elements"]) > 1 for c in ctrs), "no combined CTR"
        return _split(model, X, cat_features=cat_features)

    return build


def _catboost_cases() -> list[Case]:
    lib = "CatBoost"
    return [
        Case(lib, "CatBoostClassifier", "numeric, Logloss", _cb("CatBoostClassifier"),
             catboost_shap(), catboost_raw()),
        Case(lib, "CatBoostClassifier", "numeric, Logloss", _cb("CatBoostClassifier"),
             rescaled(catboost_raw(), proba(1), "logistic"), proba(1), "probability",
             n_background=SMALL_BG),
        Case(lib, "CatBoostClassifier", "numeric, MultiClass, target_class=2",
             _cb("CatBoostClassifier", "multi", loss_function="MultiClass"), catboost_shap(2),
             catboost_raw(2), kwargs={"target_class": 2}),
        Case(lib, "CatBoostRegressor", "numeric, RMSE", _cb("CatBoostRegressor", "reg"),
             catboost_shap(), predict()),
        Case(lib, "CatBoostClassifier", "cat_features (one column)",
             _cb("CatBoostClassifier", cats=1), catboost_shap(), catboost_raw()),
        Case(lib, "CatBoostClassifier", "cat_features (one column)",
             _cb("CatBoostClassifier", cats=1), brute_interventional(proba(1)), proba(1),
             "probability"),
        Case(lib, "CatBoostClassifier", "cat_features (two columns: combined CTRs)",
             _cb("CatBoostClassifier", cats=2), brute_interventional(proba(1)), proba(1)),
        Case(lib, "CatBoostClassifier", "cat_features (two columns: combined CTRs)",
             _cb("CatBoostClassifier", cats=2), brute_interventional(catboost_raw()),
             catboost_raw(), "log_odds"),
        Case(lib, "CatBoostClassifier", "cat_features (combined CTRs), method='catboost'",
             _cb("CatBoostClassifier", cats=2), catboost_shap(), catboost_raw(),
             kwargs={"method": "catboost"}),
    ]  # fmt: skip


# --- scikit-learn ---------------------------------------------------------------------------


def _hgb_categorical() -> Fitted:
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _with_source(2)
    model = HistGradientBoostingClassifier(
        max_iter=8, max_leaf_nodes=8, categorical_features="from_dtype", random_state=0
    ).fit(X, y)
    # HistGradientBoosting bins categories by their sorted rank: the compiled trees read it.
    ranks = {c: i for i, c in enumerate(sorted(SOURCES))}

    def codes(F: pd.DataFrame) -> np.ndarray:
        out = F.astype({"source": object}).copy()
        out["source"] = out["source"].map(ranks)
        return out.to_numpy(dtype=np.float64)

    return _split(model, X, model_rows=codes)


def _sklearn_tree_cases() -> list[Case]:
    from sklearn import ensemble, tree

    lib = "scikit-learn trees"
    rf_c = lambda: ensemble.RandomForestClassifier(8, max_depth=4, random_state=0, n_jobs=1)  # noqa: E731
    gb_c = lambda: ensemble.GradientBoostingClassifier(n_estimators=8, max_depth=3)  # noqa: E731
    hgb_c = lambda: ensemble.HistGradientBoostingClassifier(max_iter=8, random_state=0)  # noqa: E731
    hgb_p = lambda: ensemble.HistGradientBoostingRegressor(  # noqa: E731
        loss="poisson", max_iter=8, random_state=0
    )
    return [
        Case(lib, "DecisionTreeClassifier", "max_depth=5",
             _fit(lambda: tree.DecisionTreeClassifier(max_depth=5, random_state=0), "bin"),
             brute_tree(1), proba(1)),
        Case(lib, "DecisionTreeRegressor", "max_depth=5",
             _fit(lambda: tree.DecisionTreeRegressor(max_depth=5, random_state=0), "reg"),
             brute_tree(0), predict()),
        Case(lib, "RandomForestClassifier", "binary", _fit(rf_c, "bin"), brute_tree(1),
             proba(1)),
        Case(lib, "RandomForestClassifier", "binary", _fit(rf_c, "bin"),
             brute_interventional(proba(1)), proba(1), "log_odds"),
        Case(lib, "RandomForestRegressor", "1 target",
             _fit(lambda: ensemble.RandomForestRegressor(8, max_depth=4, random_state=0), "reg"),
             brute_tree(0), predict()),
        Case(lib, "RandomForestRegressor", "2 targets, target=1",
             _fit(lambda: ensemble.RandomForestRegressor(8, max_depth=4, random_state=0), "two"),
             brute_tree(1), predict(1), kwargs={"target": 1}),
        Case(lib, "ExtraTreesClassifier", "binary",
             _fit(lambda: ensemble.ExtraTreesClassifier(8, max_depth=4, random_state=0), "bin"),
             brute_tree(1), proba(1)),
        Case(lib, "GradientBoostingClassifier", "binary", _fit(gb_c, "bin"), brute_tree(0),
             decision()),
        Case(lib, "GradientBoostingClassifier", "binary", _fit(gb_c, "bin"),
             rescaled(decision(), proba(1), "logistic"), proba(1), "probability",
             n_background=SMALL_BG),
        Case(lib, "GradientBoostingRegressor", "squared error",
             _fit(lambda: ensemble.GradientBoostingRegressor(n_estimators=8), "reg"),
             brute_tree(0), predict()),
        Case(lib, "HistGradientBoostingClassifier", "binary", _fit(hgb_c, "bin"),
             brute_tree(0), decision()),
        Case(lib, "HistGradientBoostingClassifier", "binary", _fit(hgb_c, "bin"),
             rescaled(decision(), proba(1), "logistic"), proba(1), "probability",
             n_background=SMALL_BG),
        Case(lib, "HistGradientBoostingClassifier", "categorical_features='from_dtype'",
             _hgb_categorical, brute_tree(0), decision()),
        Case(lib, "HistGradientBoostingRegressor", "squared error",
             _fit(lambda: ensemble.HistGradientBoostingRegressor(max_iter=8), "reg"),
             brute_tree(0), predict()),
        Case(lib, "HistGradientBoostingRegressor", "loss='poisson'", _fit(hgb_p, "pos"),
             brute_tree(0), sk_raw(), "margin"),
        Case(lib, "HistGradientBoostingRegressor", "loss='poisson'", _fit(hgb_p, "pos"),
             rescaled(sk_raw(), predict(), "exp"), predict(), "response",
             n_background=SMALL_BG),
    ]  # fmt: skip


def _sklearn_linear_cases() -> list[Case]:
    from sklearn import linear_model as lm

    lib = "scikit-learn linear"
    logreg = lambda: lm.LogisticRegression(max_iter=1000)  # noqa: E731

    def sgd(loss: str) -> Callable[[], Any]:
        return lambda: lm.SGDClassifier(loss=loss, alpha=0.1, random_state=0)

    return [
        Case(lib, "LogisticRegression", "binary", _fit(logreg, "bin"),
             brute_interventional(decision()), decision()),
        Case(lib, "LogisticRegression", "binary", _fit(logreg, "bin"),
             brute_interventional(proba(1)), proba(1), "probability"),
        Case(lib, "LogisticRegression", "multinomial (3 classes), target_class=2",
             _fit(logreg, "multi"), brute_interventional(decision(2)), decision(2),
             kwargs={"target_class": 2}),
        Case(lib, "LogisticRegression", "multinomial (3 classes), target_class=2",
             _fit(logreg, "multi"), brute_interventional(proba(2)), proba(2), "probability",
             {"target_class": 2}),
        Case(lib, "LinearRegression", "1 target", _fit(lm.LinearRegression, "reg"),
             brute_interventional(predict()), predict()),
        Case(lib, "LinearRegression", "2 targets, target=1", _fit(lm.LinearRegression, "two"),
             brute_interventional(predict(1)), predict(1), kwargs={"target": 1}),
        Case(lib, "Ridge", "alpha=1", _fit(lm.Ridge, "reg"), brute_interventional(predict()),
             predict()),
        Case(lib, "Lasso", "alpha=0.01", _fit(lambda: lm.Lasso(alpha=0.01), "reg"),
             brute_interventional(predict()), predict()),
        Case(lib, "SGDClassifier", "loss='log_loss'", _fit(sgd("log_loss"), "bin"),
             brute_interventional(decision()), decision()),
        Case(lib, "SGDClassifier", "loss='log_loss'", _fit(sgd("log_loss"), "bin"),
             brute_interventional(proba(1)), proba(1), "probability"),
        Case(lib, "SGDClassifier", "loss='modified_huber'", _fit(sgd("modified_huber"), "bin"),
             brute_interventional(decision()), decision()),
        Case(lib, "SGDClassifier", "loss='modified_huber'", _fit(sgd("modified_huber"), "bin"),
             brute_interventional(proba(1)), proba(1), "probability"),
        Case(lib, "SGDClassifier", "loss='modified_huber'", _fit(sgd("modified_huber"), "bin"),
             brute_interventional(decision()), decision(), "log_odds"),
        Case(lib, "SGDClassifier", "loss='hinge'", _fit(sgd("hinge"), "bin"),
             brute_interventional(decision()), decision()),
        Case(lib, "SGDClassifier", "loss='hinge'", _fit(sgd("hinge"), "bin"),
             brute_interventional(decision()), decision(), "probability"),
        Case(lib, "LogisticRegression", "binary, method='lime'", _fit(logreg, "bin"),
             brute_interventional(proba(1)), proba(1), "probability", {"method": "lime"}),
    ]  # fmt: skip


def _sklearn_other_cases() -> list[Case]:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import (
        IsolationForest,
        RandomForestClassifier,
        StackingClassifier,
        VotingClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    lib = "scikit-learn, other models"

    def members() -> list[tuple[str, Any]]:
        return [
            ("lr", LogisticRegression()),
            ("rf", RandomForestClassifier(5, max_depth=3, random_state=0)),
        ]

    mlp = lambda: MLPClassifier((8,), max_iter=300, random_state=0)  # noqa: E731
    sampling = {"method_options": {"estimator": "sampling", "n_samples": 256}}
    return [
        Case(lib, "SVC", "probability=True",
             _fit(lambda: SVC(probability=True, random_state=0), "bin"),
             brute_interventional(proba(1)), proba(1)),
        Case(lib, "SVC", "probability=False", _fit(SVC, "bin"),
             brute_interventional(decision()), decision()),
        Case(lib, "SVC", "probability=False", _fit(SVC, "bin"),
             brute_interventional(decision()), decision(), "probability"),
        Case(lib, "MLPClassifier", "one hidden layer", _fit(mlp, "bin"),
             brute_interventional(proba(1)), proba(1)),
        Case(lib, "MLPClassifier", "estimator='sampling', n_samples=256", _fit(mlp, "bin"),
             brute_interventional(proba(1)), proba(1), kwargs=sampling),
        Case(lib, "KNeighborsClassifier", "k=5", _fit(KNeighborsClassifier, "bin"),
             brute_interventional(proba(1)), proba(1)),
        Case(lib, "VotingClassifier", "voting='soft'",
             _fit(lambda: VotingClassifier(members(), voting="soft"), "bin"),
             brute_interventional(proba(1)), proba(1)),
        Case(lib, "VotingClassifier", "voting='hard'",
             _fit(lambda: VotingClassifier(members(), voting="hard"), "bin"),
             brute_interventional(predict()), predict()),
        Case(lib, "StackingClassifier", "logistic regression on LR + forest",
             _fit(lambda: StackingClassifier(members(), cv=3), "bin"),
             brute_interventional(proba(1)), proba(1)),
        Case(lib, "CalibratedClassifierCV", "sigmoid, around LogisticRegression",
             _fit(lambda: CalibratedClassifierCV(LogisticRegression(), cv=3), "bin"),
             brute_interventional(proba(1)), proba(1)),
        Case(lib, "IsolationForest", "decision_function",
             _fit(lambda: IsolationForest(n_estimators=10, random_state=0), "bin"),
             brute_interventional(decision()), decision()),
    ]  # fmt: skip


# --- Pipelines ------------------------------------------------------------------------------


def _pipe(steps: Callable[[], Any], *, text: bool = True, nan: bool = False) -> Fitted:
    if text:
        X, y = _with_source(5, as_category=False)
    else:
        X, targets = _numeric(5)
        y = targets["bin"]
    if nan:
        rng = np.random.default_rng(5)
        X = X.mask((rng.random(X.shape) < 0.1) & (X.columns != "source")[None, :])
        X.iloc[251, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _split(steps().fit(X, y), X)


def _pipeline_cases() -> list[Case]:
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    lib = "Pipelines"
    num = ["visits", "emails_opened", "tenure", "spend"]

    def onehot(model: Any, scale: bool = True) -> Callable[[], Any]:
        def make() -> Any:
            pre = ColumnTransformer(
                [
                    ("num", StandardScaler() if scale else "passthrough", num),
                    ("cat", OneHotEncoder(sparse_output=False), ["source"]),
                ]
            )
            return make_pipeline(pre, model)

        return make

    def imputer() -> Any:
        pre = ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), num),
                ("cat", OneHotEncoder(), ["source"]),
            ]
        )
        return make_pipeline(pre, LogisticRegression())

    def smote() -> Any:
        # imbalanced-learn ships no type information.
        sampler = importlib.import_module("imblearn.over_sampling").SMOTE
        imb_pipeline = importlib.import_module("imblearn.pipeline").Pipeline
        return imb_pipeline(
            [("scale", StandardScaler()), ("smote", sampler(random_state=0)),
             ("lr", LogisticRegression())]
        )  # fmt: skip

    def lam() -> Any:
        return make_pipeline(FunctionTransformer(lambda z: z * 2.0), LogisticRegression())

    def pca() -> Any:
        return make_pipeline(StandardScaler(), PCA(3), LogisticRegression())

    rf = RandomForestClassifier(8, max_depth=4, random_state=0, n_jobs=1)
    import xgboost as xgb

    boost = xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1)
    return [
        Case(lib, "one-hot + scaler + LogisticRegression", "ColumnTransformer",
             lambda: _pipe(onehot(LogisticRegression())), brute_interventional(decision()),
             decision()),
        Case(lib, "one-hot + scaler + LogisticRegression", "ColumnTransformer",
             lambda: _pipe(onehot(LogisticRegression())), brute_interventional(proba(1)),
             proba(1), "probability"),
        Case(lib, "imputer (with indicators) + one-hot + LogisticRegression", "NaN in rows",
             lambda: _pipe(imputer, nan=True), brute_interventional(decision()), decision()),
        Case(lib, "one-hot + RandomForestClassifier", "one-hot block = one player",
             lambda: _pipe(onehot(rf, scale=False)), brute_tree(1), proba(1)),
        Case(lib, "one-hot + XGBClassifier", "one-hot block = one player",
             lambda: _pipe(onehot(boost, scale=False)), brute_tree(0), decision_margin(),
             float32=True),
        Case(lib, "scaler + PCA + LogisticRegression", "a step that mixes columns",
             lambda: _pipe(pca, text=False), brute_interventional(proba(1)), proba(1)),
        Case(lib, "FunctionTransformer(lambda) + LogisticRegression", "cannot be pickled",
             lambda: _pipe(lam, text=False), brute_interventional(proba(1)), proba(1)),
        Case(lib, "scaler + SMOTE + LogisticRegression", "imbalanced-learn Pipeline",
             lambda: _pipe(smote, text=False), brute_interventional(decision()), decision()),
    ]  # fmt: skip


def _final(oracle: Oracle) -> Oracle:
    """``oracle`` run on a Pipeline's final estimator and its transformed rows (the frame the
    estimator itself reads, category columns kept)."""
    assert oracle.fn is not None
    inner = oracle.fn

    def fn(fit: Fitted, bg: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        m = fit.model
        final = Fitted(m[-1], m[:-1].transform(fit.background), m[:-1].transform(fit.rows),
                       fit.info)  # fmt: skip
        return inner(final, m[:-1].transform(bg))

    return Oracle(f"{oracle.name} on the transformed rows", fn)


def _transformed(out: Output) -> Output:
    """``out`` of a Pipeline's final estimator on the Pipeline's own transform."""
    return lambda m, F: out(m[-1], m[:-1].transform(F))


def _native_pipe(factory: Callable[[], Any], **info: Any) -> Callable[[], Fitted]:
    """A scaler on the numbers, the ``category`` column passed through as a DataFrame to a
    final estimator that splits on it natively; explained rows with their categories in
    another order and a missing category."""

    def build() -> Fitted:
        from sklearn.compose import make_column_transformer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = _with_source(7)
        num = [c for c in X.columns if c != "source"]
        pre = make_column_transformer(
            (StandardScaler(), num), remainder="passthrough", verbose_feature_names_out=False
        ).set_output(transform="pandas")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make_pipeline(pre, factory()).fit(X, y)
        rows = X.iloc[250:253].copy()
        rows["source"] = rows["source"].cat.reorder_categories(SOURCES[::-1])
        rows.iloc[1, rows.columns.get_loc("source")] = np.nan
        return Fitted(model, X.iloc[:40].reset_index(drop=True), rows, info)

    return build


def _native_pipeline_cases() -> list[Case]:
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import HistGradientBoostingClassifier

    lib = "Pipelines"
    ranks = {c: i for i, c in enumerate(sorted(SOURCES))}

    def hgb_codes(F: pd.DataFrame) -> np.ndarray:
        out = F.astype({"source": object}).copy()
        out["source"] = out["source"].map(ranks)
        return out.to_numpy(dtype=np.float64)

    setting = "category column passed through (pandas output)"
    return [
        Case(lib, "scaler + XGBClassifier(enable_categorical)", setting,
             _native_pipe(lambda: xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1,
                          enable_categorical=True, tree_method="hist", max_cat_to_onehot=1)),
             _final(xgb_contribs()), _transformed(xgb_margin()), float32=True),
        Case(lib, "scaler + LGBMClassifier", setting,
             _native_pipe(lambda: lgb.LGBMClassifier(n_estimators=8, num_leaves=8,
                          min_child_samples=5, min_data_per_group=5, verbose=-1, n_jobs=1)),
             _final(lgb_contribs()), _transformed(lgb_raw()), float32=True),
        Case(lib, "scaler + HistGradientBoostingClassifier(from_dtype)", setting,
             _native_pipe(lambda: HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=8,
                          categorical_features="from_dtype", random_state=0),
                          model_rows=hgb_codes),
             _final(brute_tree(0)), decision()),
    ]  # fmt: skip


def decision_margin() -> Output:
    """A Pipeline ending in XGBoost: its margin through the Pipeline's own transform."""

    def f(m: Any, F: pd.DataFrame) -> np.ndarray:
        return np.asarray(m[-1].predict(m[:-1].transform(F), output_margin=True), np.float64)

    return f


# --- nullable pandas dtypes -----------------------------------------------------------------


def _nullable(factory: Callable[[], Any], *, with_na: bool = True) -> Callable[[], Fitted]:
    def build() -> Fitted:
        rng = np.random.default_rng(6)
        n = N_ROWS
        X = pd.DataFrame(
            {
                "visits": pd.array(rng.integers(0, 20, n), dtype="Int64"),
                "spend": pd.array(rng.normal(100, 30, n), dtype="Float64"),
                "opted_in": pd.array(rng.random(n) > 0.5, dtype="boolean"),
            }
        )
        flat = X.to_numpy(dtype=np.float64)
        y = (flat[:, 0] + flat[:, 1] / 20 + 3 * flat[:, 2] + rng.normal(size=n) > 12).astype(int)
        X.loc[::7, "visits"] = pd.NA
        X.loc[1::5, "spend"] = pd.NA
        X.loc[2::6, "opted_in"] = pd.NA
        if not with_na:  # a model that takes no missing value is fitted on complete rows
            keep = X.notna().all(axis=1).to_numpy()
            model = factory().fit(X[keep].astype(np.float64), y[keep])
            X = X[keep].reset_index(drop=True)
            rows = X.iloc[100:103].copy()
            rows.iloc[1, 0] = pd.NA
            return Fitted(model, X.iloc[:40], rows)
        return _split(factory().fit(X, y), X)

    return build


def _floats(out: Output) -> Output:
    """The model's output on the float64 reading of nullable columns (pd.NA as NaN)."""
    return lambda m, F: out(m, F.astype(np.float64))


def _nullable_cases() -> list[Case]:
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    lib = "pandas nullable dtypes"
    setting = "Int64, Float64, boolean columns holding pd.NA"
    xgb_c = lambda: xgb.XGBClassifier(n_estimators=6, max_depth=3, n_jobs=1)  # noqa: E731
    lgb_c = lambda: lgb.LGBMClassifier(n_estimators=6, num_leaves=8, verbose=-1, n_jobs=1)  # noqa: E731
    return [
        Case(lib, "XGBClassifier", setting, _nullable(xgb_c), _float_rows(xgb_contribs()),
             _floats(xgb_margin()), float32=True),
        Case(lib, "LGBMClassifier", setting, _nullable(lgb_c), _float_rows(lgb_contribs()),
             _floats(lgb_raw()), float32=True),
        Case(lib, "HistGradientBoostingClassifier", setting,
             _nullable(lambda: HistGradientBoostingClassifier(max_iter=6, random_state=0)),
             _float_rows(brute_tree(0)), _floats(decision())),
        Case(lib, "RandomForestClassifier", setting,
             _nullable(lambda: RandomForestClassifier(5, max_depth=4, random_state=0)),
             _float_rows(brute_tree(1)), _floats(proba(1))),
        Case(lib, "LogisticRegression", "pd.NA in a row (the model takes no missing value)",
             _nullable(LogisticRegression, with_na=False),
             brute_interventional(_floats(decision())), _floats(decision())),
    ]  # fmt: skip


def _float_rows(oracle: Oracle) -> Oracle:
    """The oracle on the float64 reading of the rows (what every library reads pd.NA as)."""
    inner = oracle.fn
    assert inner is not None

    def fn(fit: Fitted, bg: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        flat = Fitted(fit.model, fit.background, fit.rows.astype(np.float64), fit.info)
        return inner(flat, bg)

    return Oracle(oracle.name, fn)


def all_cases() -> list[Case]:
    """Every case, grouped by library."""
    return [
        *_xgboost_cases(),
        *_lightgbm_cases(),
        *_catboost_cases(),
        *_sklearn_tree_cases(),
        *_sklearn_linear_cases(),
        *_sklearn_other_cases(),
        *_pipeline_cases(),
        *_native_pipeline_cases(),
        *_nullable_cases(),
    ]
