"""Fairness audit: rates against fairlearn, ratios and flags by hand, interval coverage by
simulation, unknown and empty groups, and the reasons of rejected leads from real
explanations recomputed directly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, count, selection_rate  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression

from explainscore import ExplainedModel, Explanations
from explainscore.datasets import make_leads
from explainscore.exceptions import ParameterError
from explainscore.governance._fairness import (
    fairness_audit,
    katz_ratio_interval,
    principal_reasons,
    wilson_interval,
)
from explainscore.governance._fairness_report import FairnessReport, GroupRate

Z95 = 1.959963984540054


def _random_audit_data(seed: int = 0, n: int = 3000) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    sens = pd.DataFrame(
        {
            "band": rng.choice(["<25", "25-59", "60+", "x"], size=n, p=[0.2, 0.5, 0.2, 0.1]),
            "status": rng.choice(["single", "married", "divorced"], size=n),
        }
    )
    # Scores that depend on the group, so that rates differ.
    shift = sens["band"].map({"<25": -0.1, "25-59": 0.0, "60+": 0.1, "x": 0.05}).to_numpy()
    scores = np.clip(rng.uniform(size=n) * 0.9 + shift, 0, 1)
    return scores, sens


def _by_group(rows: tuple[GroupRate, ...], attribute: str) -> dict[str, GroupRate]:
    return {r.group: r for r in rows if r.attribute == attribute}


# --- agreement with fairlearn -------------------------------------------------------------------


def test_single_attributes_match_fairlearn() -> None:
    scores, sens = _random_audit_data()
    threshold = 0.55
    report = fairness_audit(scores, sens, threshold=threshold)
    selected = (scores >= threshold).astype(int)
    for attribute in sens.columns:
        mf = MetricFrame(
            metrics={"selection_rate": selection_rate, "count": count},
            y_true=selected,
            y_pred=selected,
            sensitive_features=sens[attribute],
        )
        ours = _by_group(report.groups, attribute)
        assert set(ours) == {str(g) for g in mf.by_group.index}
        for group, row in mf.by_group.iterrows():
            assert ours[str(group)].n == row["count"]
            assert abs(ours[str(group)].selection_rate - row["selection_rate"]) <= 1e-12
        summary = next(a for a in report.attributes if a.attribute == attribute)
        fl_ratio = mf.ratio(method="between_groups")["selection_rate"]
        assert abs(summary.min_impact_ratio - fl_ratio) <= 1e-12


def test_intersections_match_fairlearn_including_empty_cells() -> None:
    scores, sens = _random_audit_data(seed=1)
    # Make one cell empty: no '60+' lead is 'divorced'.
    sens.loc[(sens["band"] == "60+") & (sens["status"] == "divorced"), "status"] = "single"
    threshold = 0.5
    report = fairness_audit(scores, sens, threshold=threshold)
    selected = (scores >= threshold).astype(int)
    mf = MetricFrame(
        metrics={"selection_rate": selection_rate, "count": count},
        y_true=selected,
        y_pred=selected,
        sensitive_features=sens[["band", "status"]],
    )
    cells = {(r.levels["band"], r.levels["status"]): r for r in report.intersections}
    assert len(cells) == len(mf.by_group) == 12
    for (band, status), row in mf.by_group.iterrows():
        ours = cells[(band, status)]
        if np.isnan(row["count"]):
            assert ours.n == 0
            assert math.isnan(ours.selection_rate)
            assert math.isnan(ours.impact_ratio)
            assert ours.four_fifths_flag is None
        else:
            assert ours.n == row["count"]
            assert abs(ours.selection_rate - row["selection_rate"]) <= 1e-12
    assert report.intersections[0].attribute == "band & status"
    assert any("cells of 'band & status' have no leads" in n for n in report.notes)
    assert any("60+ & divorced" in n for n in report.notes)


# --- ratios, flags and intervals by hand ---------------------------------------------------------


def _hand_made() -> tuple[np.ndarray, pd.Series]:
    # A: 50/100 selected (reference), B: 45/100 (ratio 0.9), C: 30/100 (0.6), D: 40/100 (0.8).
    groups, scores = [], []
    for label, chosen in (("A", 50), ("B", 45), ("C", 30), ("D", 40)):
        groups += [label] * 100
        scores += [0.9] * chosen + [0.1] * (100 - chosen)
    return np.array(scores), pd.Series(groups, name="group")


def test_impact_ratio_and_four_fifths_flag_by_hand() -> None:
    scores, groups = _hand_made()
    report = fairness_audit(scores, groups, threshold=0.5)
    rows = _by_group(report.groups, "group")
    assert rows["A"].reference
    assert rows["A"].impact_ratio == 1.0
    assert rows["A"].four_fifths_flag is False
    assert math.isnan(rows["A"].ratio_ci_low)
    assert rows["B"].impact_ratio == pytest.approx(0.9, abs=1e-12)
    assert rows["B"].four_fifths_flag is False
    assert rows["C"].impact_ratio == pytest.approx(0.6, abs=1e-12)
    assert rows["C"].four_fifths_flag is True
    # Exactly 0.8 is not below 0.8.
    assert rows["D"].impact_ratio == pytest.approx(0.8, abs=1e-12)
    assert rows["D"].four_fifths_flag is False
    summary = report.attributes[0]
    assert summary.reference_group == "A"
    assert summary.flagged_groups == ("C",)
    assert summary.min_impact_ratio == pytest.approx(0.6, abs=1e-12)

    # Katz: log(0.6) +- z * sqrt(1/30 - 1/100 + 1/50 - 1/100).
    se = math.sqrt(1 / 30 - 1 / 100 + 1 / 50 - 1 / 100)
    assert rows["C"].ratio_ci_low == pytest.approx(math.exp(math.log(0.6) - Z95 * se), rel=1e-9)
    assert rows["C"].ratio_ci_high == pytest.approx(math.exp(math.log(0.6) + Z95 * se), rel=1e-9)
    # Flagged, but with 100 leads a group the interval (0.42 to 0.86) still reaches 0.8.
    assert rows["C"].ratio_ci_high > 0.8
    assert rows["C"].ci_below_four_fifths is False
    assert rows["B"].ci_below_four_fifths is False
    # Wilson for 50/100 at 95 %: the textbook [0.4038, 0.5962].
    assert rows["A"].rate_ci_low == pytest.approx(0.40383, abs=1e-5)
    assert rows["A"].rate_ci_high == pytest.approx(0.59617, abs=1e-5)


def test_interval_edge_cases() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0
    assert 0 < hi < 0.2
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0
    assert 0.8 < lo < 1
    # No selected lead in the group: the ratio is 0 and the interval starts there.
    lo, hi = katz_ratio_interval(0, 50, 20, 50)
    assert lo == 0.0
    assert 0 < hi < 1
    # Undefined: empty groups, or a reference rate of 0.
    assert all(math.isnan(v) for v in katz_ratio_interval(3, 10, 0, 10))
    assert all(math.isnan(v) for v in katz_ratio_interval(0, 0, 3, 10))
    # Higher confidence, wider interval.
    lo95, hi95 = katz_ratio_interval(30, 100, 50, 100, confidence=0.95)
    lo99, hi99 = katz_ratio_interval(30, 100, 50, 100, confidence=0.99)
    assert lo99 < lo95 < 0.6 < hi95 < hi99


def test_ratio_interval_coverage_by_simulation() -> None:
    # Group A (n=300, p=0.5) is the reference in every draw: B (n=200, p=0.3) beats it with
    # probability ~1e-6. True ratio 0.6.
    rng = np.random.default_rng(20240601)
    n_sims, n_a, n_b, p_a, p_b = 400, 300, 200, 0.5, 0.3
    groups = pd.Series(["A"] * n_a + ["B"] * n_b, name="g")
    ratio_hits = rate_hits = 0
    for _ in range(n_sims):
        scores = np.concatenate([rng.uniform(size=n_a) < p_a, rng.uniform(size=n_b) < p_b])
        report = fairness_audit(scores.astype(float), groups, threshold=0.5)
        b = _by_group(report.groups, "g")["B"]
        assert report.attributes[0].reference_group == "A"
        ratio_hits += b.ratio_ci_low <= p_b / p_a <= b.ratio_ci_high
        rate_hits += b.rate_ci_low <= p_b <= b.rate_ci_high
    # 3 binomial standard deviations of the hit rate of a true 95 % interval.
    tolerance = 3 * math.sqrt(0.95 * 0.05 / n_sims)
    assert abs(ratio_hits / n_sims - 0.95) <= tolerance
    assert abs(rate_hits / n_sims - 0.95) <= tolerance


# --- unknown and empty groups ------------------------------------------------------------------


def test_unknown_labels_are_counted_apart() -> None:
    labels = ["a", "b", None, np.nan, "unknown", " Unknown ", "a", "b", "a", "b"]
    scores = np.array([0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9])
    report = fairness_audit(scores, {"g": labels}, threshold=0.5)
    summary = report.attributes[0]
    assert summary.n_unknown == 4
    assert summary.n_known == 6
    rows = _by_group(report.groups, "g")
    assert set(rows) == {"a", "b"}
    assert (rows["a"].n, rows["a"].selected) == (3, 2)
    assert (rows["b"].n, rows["b"].selected) == (3, 2)
    assert any("4 leads have an unknown 'g'" in n for n in report.notes)


def test_unknowns_in_one_attribute_leave_the_intersection() -> None:
    sens = pd.DataFrame({"a": ["x", "y", None, "x"], "b": ["p", "unknown", "q", "q"]})
    report = fairness_audit(np.array([0.9, 0.1, 0.5, 0.7]), sens, threshold=0.5)
    cross = next(a for a in report.attributes if a.attribute == "a & b")
    assert (cross.n_known, cross.n_unknown) == (2, 2)
    assert sum(r.n for r in report.intersections) == 2


def test_empty_group_gives_nan_and_a_note() -> None:
    groups = pd.Series(pd.Categorical(["a", "a", "b", "b"], categories=["a", "b", "c"]), name="g")
    report = fairness_audit(np.array([0.9, 0.1, 0.9, 0.9]), groups, threshold=0.5)
    c = _by_group(report.groups, "g")["c"]
    assert c.n == 0
    assert c.selected == 0
    assert math.isnan(c.selection_rate)
    assert math.isnan(c.impact_ratio)
    assert math.isnan(c.rate_ci_low)
    assert math.isnan(c.ratio_ci_high)
    assert c.four_fifths_flag is None
    assert c.ci_below_four_fifths is None
    assert report.attributes[0].n_empty_groups == 1
    assert any("Group 'c' of 'g' has no leads" in n for n in report.notes)


def test_no_selected_lead_gives_nan_ratios_and_a_note() -> None:
    report = fairness_audit(np.full(6, 0.1), ["a", "b"] * 3, threshold=0.5)
    assert all(math.isnan(r.impact_ratio) for r in report.groups)
    assert all(r.four_fifths_flag is None for r in report.groups)
    assert not any(r.reference for r in report.groups)
    assert report.attributes[0].reference_group is None
    assert any("No lead of any group" in n for n in report.notes)


def test_small_reference_group_is_noted() -> None:
    report = fairness_audit(np.array([0.9, 0.9, 0.1, 0.9]), ["a", "a", "b", "b"], threshold=0.5)
    assert any("has only 2 leads" in n for n in report.notes)


def test_labels_are_matched_by_index_when_they_can_be() -> None:
    scores = pd.Series([0.9, 0.1, 0.8, 0.2], index=[10, 11, 12, 13])
    sens = pd.Series(["x", "y", "x", "y", "z"], index=[13, 12, 11, 10, 99], name="g")
    report = fairness_audit(scores, sens, threshold=0.5)
    rows = _by_group(report.groups, "g")
    # By label: 10 -> y (0.9), 11 -> x (0.1), 12 -> y (0.8), 13 -> x (0.2); z is not audited.
    assert set(rows) == {"x", "y"}
    assert rows["y"].selected == 2
    assert rows["x"].selected == 0


def test_report_round_trips_through_json() -> None:
    groups = pd.Series(pd.Categorical(["a", "b"], categories=["a", "b", "c"]), name="g")
    report = fairness_audit(np.array([0.9, 0.1]), groups, threshold=0.5)
    text = report.model_dump_json()
    assert "NaN" in text
    again = FairnessReport.model_validate_json(text)
    assert again.groups[2].n == 0
    assert math.isnan(again.groups[2].selection_rate)


# --- rejected leads ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explained_leads() -> tuple[Explanations, pd.DataFrame]:
    X, y = make_leads(1500, seed=11)
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    X_num = X[numeric].astype(np.float64)
    model = ExplainedModel(LogisticRegression(max_iter=1000)).fit(X_num, y)
    # Audit-time attributes: text columns the model never sees.
    sens = X[["industry", "lead_source"]].reset_index(drop=True)
    return model.explain(X_num), sens


def _direct_reasons(
    ex: Explanations, labels: pd.Series, threshold: float, k: int
) -> dict[str, tuple[int, dict[str, int]]]:
    out: dict[str, tuple[int, dict[str, int]]] = {}
    for i in range(len(ex)):
        if ex.scores[i] >= threshold:
            continue
        row = ex.attributions[i]
        negative = [j for j in range(len(row)) if row[j] < 0]
        negatives = sorted(negative, key=lambda j: (row[j], j))[:k]
        n, counts = out.get(labels[i], (0, {}))
        for j in negatives:
            counts[ex.feature_names[j]] = counts.get(ex.feature_names[j], 0) + 1
        out[labels[i]] = (n + 1, counts)
    return out


def test_rejected_reasons_match_direct_recomputation(
    explained_leads: tuple[Explanations, pd.DataFrame],
) -> None:
    ex, sens = explained_leads
    threshold, k = 0.2, 2
    report = fairness_audit(ex, sens, threshold=threshold, top_reasons=k)
    assert 0 < report.n_selected < len(ex)
    for attribute in ("industry", "lead_source"):
        direct = _direct_reasons(ex, sens[attribute], threshold, k)
        ours = {g.group: g for g in report.rejections if g.attribute == attribute}
        assert set(ours) == set(direct)
        for group, (n_rej, counts) in direct.items():
            got = ours[group]
            assert got.n_rejected == n_rej
            assert {r.feature: r.count for r in got.reasons} == counts
            for r in got.reasons:
                assert r.share == pytest.approx(counts[r.feature] / n_rej, abs=1e-12)
            # Most frequent first.
            assert [r.count for r in got.reasons] == sorted(counts.values(), reverse=True)
    # The intersection's cells add up to the single attribute's groups.
    cross = [g for g in report.rejections if g.attribute == "industry & lead_source"]
    assert sum(g.n_rejected for g in cross) == int((ex.scores < threshold).sum())


def test_proxy_driver_shares_match_direct_recomputation(
    explained_leads: tuple[Explanations, pd.DataFrame],
) -> None:
    ex, sens = explained_leads
    threshold, k = 0.2, 3
    report = fairness_audit(
        ex, sens[["industry"]], threshold=threshold, top_reasons=k, proxy_features=["noise"]
    )
    (driver,) = report.proxies
    direct = _direct_reasons(ex, sens["industry"], threshold, k)
    for group, (n_rej, counts) in direct.items():
        assert driver.counts[group] == counts.get("noise", 0)
        assert driver.shares[group] == pytest.approx(counts.get("noise", 0) / n_rej)
    eligible = {g: driver.shares[g] for g, (n, _) in direct.items() if n >= driver.min_rejected}
    assert driver.highest_group == max(eligible, key=eligible.__getitem__)
    assert driver.lowest_group == min(eligible, key=eligible.__getitem__)
    assert driver.ratio == pytest.approx(max(eligible.values()) / min(eligible.values()))


def test_principal_reasons_are_the_most_negative_factors() -> None:
    a = np.array([[0.5, -0.2, -0.7, 0.0, -0.2], [0.1, 0.2, 0.3, 0.0, 0.4]])
    reasons = principal_reasons(a, 3)
    # Ties (-0.2, -0.2) keep column order; zero and positive values are never reasons.
    assert reasons.tolist() == [[2, 1, 4], [-1, -1, -1]]


def test_scores_only_skip_the_rejection_section() -> None:
    scores, sens = _random_audit_data(n=200)
    report = fairness_audit(scores, sens, threshold=0.5, proxy_features=["x"])
    assert report.rejections == ()
    assert report.proxies == ()
    assert any("needs an Explanations batch" in n for n in report.notes)


def test_every_lead_selected_is_noted(
    explained_leads: tuple[Explanations, pd.DataFrame],
) -> None:
    ex, sens = explained_leads
    report = fairness_audit(ex, sens, threshold=0.0)
    assert report.rejections == ()
    assert any("no rejected leads" in n for n in report.notes)


# --- parameter errors ----------------------------------------------------------------------------


def test_threshold_error_uses_the_template() -> None:
    with pytest.raises(ParameterError) as err:
        fairness_audit(np.array([0.5]), ["a"], threshold=1.5)
    assert str(err.value) == (
        "The 'threshold' parameter of fairness_audit must be a number in [0, 1]. Got 1.5 instead."
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": "0.5"}, "'threshold' parameter of fairness_audit"),
        ({"threshold": 0.5, "confidence": 1.0}, r"'confidence' .* in \(0, 1\)"),
        ({"threshold": 0.5, "confidence": 0.0}, "'confidence' parameter"),
        ({"threshold": 0.5, "top_reasons": 0}, "'top_reasons' parameter"),
    ],
)
def test_parameter_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        fairness_audit(np.array([0.5, 0.6]), ["a", "b"], **kwargs)  # type: ignore[arg-type]


def test_input_errors_do_not_quote_lead_values(
    explained_leads: tuple[Explanations, pd.DataFrame],
) -> None:
    ex, sens = explained_leads
    with pytest.raises(ParameterError, match="one label per lead"):
        fairness_audit(np.array([0.5, 0.6, 0.7]), ["a", "b"], threshold=0.5)
    with pytest.raises(ParameterError, match="finite scores") as err:
        fairness_audit(np.array([0.123456, np.nan]), ["a", "b"], threshold=0.5)
    assert "0.123456" not in str(err.value)
    with pytest.raises(ParameterError, match="1-D"):
        fairness_audit(np.array([0.5, 0.6]), np.array([["a", "b"], ["c", "d"]]), threshold=0.5)
    with pytest.raises(ParameterError, match="'proxy_features'"):
        fairness_audit(ex, sens, threshold=0.5, proxy_features=["not_a_column"])
    with pytest.raises(ParameterError, match="'top_reasons'"):
        fairness_audit(ex, sens, threshold=0.5, top_reasons=len(ex.feature_names) + 1)
    with pytest.raises(ParameterError, match="'sensitive_features'"):
        fairness_audit(np.array([0.5]), None, threshold=0.5)
