"""to_shap(): a shap.Explanation with the batch's numbers, business names, no hidden name, and
every main shap plot draws from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

import matplotlib.pyplot as plt
import shap

from explainscore import ExplainedModel
from explainscore._demo import build_pipeline
from explainscore._shap_interop import HIDDEN_POOL, OTHERS_POOL
from explainscore.datasets import load_bank_catalog

plt.switch_backend("Agg")  # shap draws through pyplot: never open a window

HIDDEN_RAW = "age"


@pytest.fixture(scope="module")
def batch(bank):
    X, y = bank
    catalog = load_bank_catalog().model_dump()
    catalog["features"][HIDDEN_RAW]["show"] = False
    em = ExplainedModel(build_pipeline(X, n_estimators=30), catalog=catalog).fit(X, y)
    return em.explain(X.iloc[::40])


@pytest.fixture(scope="module")
def exp(batch):
    return batch.to_shap()


def test_round_trip_values_base_and_data(batch, exp) -> None:
    shown = [j for j, n in enumerate(batch.feature_names) if n not in batch.hidden]
    hidden = [j for j, n in enumerate(batch.feature_names) if n in batch.hidden]
    assert hidden  # the fixture hides a column
    assert exp.values.shape == (len(batch), len(shown) + 1)
    np.testing.assert_array_equal(exp.values[:, :-1], batch.attributions[:, shown])
    np.testing.assert_array_equal(exp.values[:, -1], batch.attributions[:, hidden].sum(axis=1))
    np.testing.assert_array_equal(exp.base_values, batch.base_values)
    # Efficiency survives: base + sum == the model output, as in explainscore.
    np.testing.assert_allclose(exp.base_values + exp.values.sum(axis=1), batch.outputs, atol=1e-5)
    for k, j in enumerate(shown):
        original = batch.data.iloc[:, j]
        got = exp.data[:, k]
        if pd.api.types.is_numeric_dtype(original):
            np.testing.assert_array_equal(got, original.to_numpy(dtype=float))
        else:  # text: codes of the column's sorted values
            levels = sorted(set(original.dropna()), key=str)
            assert [levels[int(c)] for c in got] == list(original)
    assert all(v != v for v in exp.data[:, -1])  # the pooled column has no value


def test_business_names_and_display_values_never_hidden(batch, exp) -> None:
    hidden_display = load_bank_catalog().entry(HIDDEN_RAW).display_name["en"]
    names = list(exp.feature_names)
    assert names[-1] == HIDDEN_POOL
    assert "Average yearly balance" in names
    assert "Month of last contact" in names
    assert HIDDEN_RAW not in names
    assert hidden_display not in names
    assert not set(names) & set(batch.feature_names)  # no raw column names
    j = names.index("Average yearly balance")
    assert all(str(v).endswith(" EUR") for v in exp.display_data[:, j])
    m = names.index("Month of last contact")
    assert set(exp.display_data[:, m]) <= {
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    }  # fmt: skip


def test_one_record_to_shap(batch) -> None:
    rec = batch[2]
    one = rec.to_shap()
    assert list(one.feature_names) == [a.display_name for a in rec.attributions] + [OTHERS_POOL]
    np.testing.assert_array_equal(
        one.values, [a.contribution for a in rec.attributions] + [rec.other_contribution]
    )
    assert one.base_values == rec.base_value
    assert one.base_values + one.values.sum() == pytest.approx(rec.output, abs=1e-5)


@pytest.mark.parametrize(
    "draw",
    [
        pytest.param(lambda e: shap.plots.waterfall(e[0], show=False), id="waterfall"),
        pytest.param(lambda e: shap.plots.bar(e, show=False), id="bar"),
        pytest.param(lambda e: shap.plots.beeswarm(e, show=False), id="beeswarm"),
        pytest.param(
            lambda e: shap.plots.scatter(e[:, "Average yearly balance"], show=False),
            id="scatter-number",
        ),
        pytest.param(
            lambda e: shap.plots.scatter(e[:, "Contact channel"], show=False),
            id="scatter-category",
        ),
        pytest.param(lambda e: shap.plots.force(e[0], matplotlib=True, show=False), id="force"),
        pytest.param(lambda e: shap.plots.heatmap(e, show=False), id="heatmap"),
        pytest.param(lambda e: shap.plots.violin(e, show=False), id="violin"),
        pytest.param(
            lambda e: shap.plots.decision(
                float(e.base_values[0]),
                e.values,
                feature_names=list(e.feature_names),
                show=False,
            ),
            id="decision",
        ),
    ],
)
def test_each_main_shap_plot_draws(exp, draw, tmp_path) -> None:
    plt.close("all")
    draw(exp)
    fig = plt.gcf()
    texts = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels() + ax.texts]
    texts += [ax.get_xlabel() for ax in fig.axes] + [t.get_text() for t in fig.texts]
    assert not any(t == HIDDEN_RAW or t.startswith(f"{HIDDEN_RAW} ") for t in texts)
    fig.savefig(tmp_path / "shap.png")
    assert (tmp_path / "shap.png").stat().st_size > 3_000
    plt.close("all")


def test_record_waterfall_draws(batch, tmp_path) -> None:
    plt.close("all")
    shap.plots.waterfall(batch[0].to_shap(), show=False)
    plt.gcf().savefig(tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 3_000
    plt.close("all")
