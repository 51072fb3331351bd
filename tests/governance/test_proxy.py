"""Proxy check: a column built to leak the attribute is flagged, pure noise is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainscore.exceptions import ParameterError
from explainscore.governance._proxy import proxy_check


def _data(seed: int = 0, n: int = 1500) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    s = rng.choice(["<25", "25-59", "60+"], size=n, p=[0.2, 0.6, 0.2])
    code = pd.Series(s).map({"<25": 0, "25-59": 1, "60+": 2}).to_numpy()
    # A categorical leak: the right job for the band 80 % of the time.
    jobs = np.array(["student", "admin", "retired"])
    leak_cat = np.where(rng.uniform(size=n) < 0.8, jobs[code], rng.choice(jobs, size=n))
    X = pd.DataFrame(
        {
            # A non-monotone numeric leak: far from 0 for the outer bands, near 0 in the middle.
            "leak_num": np.where(code == 1, 0.0, np.where(code == 0, -2.0, 2.0))
            + rng.normal(scale=0.7, size=n),
            "leak_cat": leak_cat,
            "noise_num": rng.normal(size=n),
            "noise_cat": rng.choice(list("abcdefgh"), size=n),
        }
    )
    return X, pd.Series(s, name="age_band")


@pytest.mark.parametrize("method", ["auc", "mutual_info"])
def test_leaks_are_flagged_and_noise_is_not(method: str) -> None:
    X, s = _data()
    report = proxy_check(X, s, method=method)  # type: ignore[arg-type]
    assert report.flagged == ["leak_num", "leak_cat"]
    scores = {c.column: c.score for c in report.columns}
    kinds = {c.column: c.kind for c in report.columns}
    assert kinds == {
        "leak_num": "numeric",
        "leak_cat": "categorical",
        "noise_num": "numeric",
        "noise_cat": "categorical",
    }
    if method == "auc":
        assert scores["leak_num"] > 0.85
        assert scores["leak_cat"] > 0.8
        assert 0.4 < scores["noise_num"] < 0.6
        assert 0.4 < scores["noise_cat"] < 0.6
    else:
        assert scores["noise_num"] < 0.01
        assert scores["noise_cat"] < 0.01


def test_binary_attribute_several_attributes_and_determinism() -> None:
    X, s = _data(seed=1)
    sens = pd.DataFrame({"age_band": s, "senior": (s == "60+").map({True: "yes", False: "no"})})
    first = proxy_check(X, sens, random_state=3)
    again = proxy_check(X, sens, random_state=3)
    assert first == again
    assert {c.attribute for c in first.columns} == {"age_band", "senior"}
    senior = {c.column: c for c in first.columns if c.attribute == "senior"}
    assert senior["leak_num"].flagged
    assert not senior["noise_num"].flagged
    frame = first.to_frame()
    assert len(frame) == 8
    assert set(frame.columns) >= {"column", "attribute", "score", "flagged"}
    assert "| leak_num | senior | numeric |" in first.to_markdown()


def test_unknown_labels_and_missing_values() -> None:
    X, s = _data(seed=2, n=600)
    s = s.astype(object)
    s.iloc[:50] = None
    X.loc[:30, "leak_num"] = np.nan
    X.loc[:30, "leak_cat"] = None
    report = proxy_check(X, s)
    assert report.flagged == ["leak_num", "leak_cat"]
    assert any("50 rows with an unknown 'age_band'" in n for n in report.notes)


def test_tiny_classes_lower_the_folds_or_give_nan() -> None:
    X, _ = _data(n=40)
    few = pd.Series(["a"] * 37 + ["b"] * 3)
    report = proxy_check(X, few, cv=5)
    assert any("3 folds used" in n for n in report.notes)
    single = pd.Series(["a"] * 39 + ["b"])
    nan_report = proxy_check(X, single)
    assert all(np.isnan(c.score) and not c.flagged for c in nan_report.columns)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "gini"}, "'method' parameter of proxy_check"),
        ({"threshold": 1.5}, "'threshold' parameter of proxy_check must be a number in"),
        ({"cv": 1}, "'cv' parameter of proxy_check"),
        ({"random_state": -1}, "'random_state' parameter"),
    ],
)
def test_parameter_errors(kwargs: dict[str, object], match: str) -> None:
    X, s = _data(n=50)
    with pytest.raises(ParameterError, match=match):
        proxy_check(X, s, **kwargs)  # type: ignore[arg-type]


def test_shape_errors() -> None:
    X, s = _data(n=50)
    with pytest.raises(ParameterError, match="one label per lead"):
        proxy_check(X, s.iloc[:10].to_numpy())
    with pytest.raises(ParameterError, match="2-D"):
        proxy_check(np.zeros(5), s)
