"""LIME: a local linear surrogate, opt-in (``method="lime"``), never exact.

LIME fits a weighted linear model to the output on perturbed samples around the lead and
reports its coefficients' contributions. They are *not* Shapley values and do not add up to the
output. So that every record still reads base + sum(contributions) = output, the record's
``base_value`` is set to f(x) - sum(weights), and ``exact`` is False. Text columns are given to
LIME as integer codes (LIME samples categories from the background's frequencies) and decoded
before the model sees them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._optional import import_optional
from .._params import check_int
from ._base import Attribution, Attributor, ExplainContext, FloatArray

__all__ = ["LimeAttributor"]

_WHERE = "method='lime'"


class LimeAttributor(Attributor):
    """Local surrogate weights from the ``lime`` package, marked approximate."""

    name = "lime"
    game = "LIME local linear surrogate (approximate, not a Shapley value)"

    def __init__(self, context: ExplainContext) -> None:
        lime_tabular = import_optional("lime.lime_tabular", extra="lime", purpose=_WHERE)
        self._context = context
        options = context.options or {}
        self._n_samples = check_int(
            options.get("num_samples", 5000), "num_samples", _WHERE, low=100
        )
        bg = np.asarray(context.background)
        n_cols = bg.shape[1]
        self._categorical = [
            j
            for j in range(n_cols)
            if bg.dtype == object and any(isinstance(v, str) for v in bg[:, j])
        ]
        self._codes: dict[int, list[Any]] = {
            j: sorted({str(v) for v in bg[:, j]}) for j in self._categorical
        }
        encoded = self._encode(bg)
        self._explainer = lime_tabular.LimeTabularExplainer(
            encoded,
            mode="regression",
            feature_names=list(context.player_names),
            categorical_features=self._categorical,
            discretize_continuous=False,
            random_state=context.random_state,
        )

    def _encode(self, rows: np.ndarray[Any, Any]) -> FloatArray:
        out = np.empty(rows.shape, dtype=np.float64)
        for j in range(rows.shape[1]):
            if j in self._codes:
                lookup = {c: i for i, c in enumerate(self._codes[j])}
                # A category the background never held maps to a new code past the known ones.
                out[:, j] = [lookup.setdefault(str(v), len(lookup)) for v in rows[:, j]]
                self._codes[j] = sorted(lookup, key=lookup.__getitem__)
            else:
                out[:, j] = rows[:, j].astype(np.float64)
        return out

    def _decode(self, encoded: FloatArray) -> np.ndarray[Any, Any]:
        if not self._categorical:
            return encoded
        rows = encoded.astype(object)
        for j, codes in self._codes.items():
            idx = np.clip(np.rint(encoded[:, j]).astype(int), 0, len(codes) - 1)
            rows[:, j] = np.asarray(codes, dtype=object)[idx]
        return rows

    def attribute(self, X: np.ndarray[Any, Any]) -> Attribution:
        ctx = self._context
        X = np.asarray(X, dtype=object if self._categorical else np.float64)
        encoded = self._encode(X)
        m = ctx.n_players
        values = np.zeros((len(X), m), dtype=np.float64)
        outputs = np.asarray(ctx.value_function(X), dtype=np.float64)

        def predict(rows: FloatArray) -> FloatArray:
            return np.asarray(ctx.value_function(self._decode(rows)), dtype=np.float64)

        scaler = self._explainer.scaler
        for i, row in enumerate(encoded):
            # LIME advances one RandomState across calls; reset it so a lead's explanation
            # depends only on the seed, not on what was explained before.
            self._explainer.random_state = np.random.RandomState(ctx.random_state)
            exp = self._explainer.explain_instance(
                row, predict, num_features=X.shape[1], num_samples=self._n_samples
            )
            # Regression mode has one (dummy) label; its weights apply to the scaled row for
            # numeric columns and to the "equals the lead's category" indicator (1) for text.
            weights = next(iter(exp.as_map().values()))
            for col, weight in weights:
                if col in self._codes:
                    term = 1.0
                else:
                    term = (row[col] - scaler.mean_[col]) / scaler.scale_[col]
                values[i, ctx.groups[col]] += weight * term
        base = outputs - values.sum(axis=1)
        return Attribution(values=values, base_values=base, exact=False)
