"""Model factories for the family-by-backend test matrix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import xgboost as xgb
from sklearn import ensemble, linear_model, tree

Factory = Callable[[], Any]

#: Tree families: (id, factory, is_classifier)
TREE_MODELS: list[tuple[str, Factory, bool]] = [
    ("xgb-clf", lambda: xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1), True),
    ("xgb-reg", lambda: xgb.XGBRegressor(n_estimators=30, max_depth=3, n_jobs=1), False),
    (
        "lgbm-clf",
        lambda: lgb.LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1, n_jobs=1),
        True,
    ),
    (
        "lgbm-reg",
        lambda: lgb.LGBMRegressor(n_estimators=30, num_leaves=8, verbose=-1, n_jobs=1),
        False,
    ),
    ("dt-clf", lambda: tree.DecisionTreeClassifier(max_depth=5, random_state=0), True),
    ("dt-reg", lambda: tree.DecisionTreeRegressor(max_depth=5, random_state=0), False),
    (
        "rf-clf",
        lambda: ensemble.RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0),
        True,
    ),
    (
        "rf-reg",
        lambda: ensemble.RandomForestRegressor(n_estimators=15, max_depth=5, random_state=0),
        False,
    ),
    (
        "et-clf",
        lambda: ensemble.ExtraTreesClassifier(n_estimators=15, max_depth=5, random_state=0),
        True,
    ),
    (
        "gb-clf",
        lambda: ensemble.GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0),
        True,
    ),
    (
        "gb-reg",
        lambda: ensemble.GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0),
        False,
    ),
    (
        "hgb-clf",
        lambda: ensemble.HistGradientBoostingClassifier(max_iter=20, random_state=0),
        True,
    ),
    (
        "hgb-reg",
        lambda: ensemble.HistGradientBoostingRegressor(max_iter=20, random_state=0),
        False,
    ),
]

LINEAR_MODELS: list[tuple[str, Factory, bool]] = [
    ("logreg", lambda: linear_model.LogisticRegression(max_iter=2000), True),
    ("linreg", linear_model.LinearRegression, False),
    ("ridge", lambda: linear_model.Ridge(alpha=1.0), False),
    ("lasso", lambda: linear_model.Lasso(alpha=0.01), False),
    ("enet", lambda: linear_model.ElasticNet(alpha=0.01), False),
    ("sgd-clf", lambda: linear_model.SGDClassifier(loss="log_loss", random_state=0), True),
    ("sgd-reg", lambda: linear_model.SGDRegressor(random_state=0), False),
]


def ids(models: list[tuple[str, Factory, bool]]) -> list[str]:
    return [m[0] for m in models]
