"""Unwrapping scikit-learn Pipelines and mapping transformed columns back to raw columns.

A Pipeline ``preprocess -> estimator`` is explained on the raw columns the user knows. For the
structure-aware backends (tree, linear) we explain the final estimator on the transformed
matrix and need, for every transformed column, the one raw column it was computed from. That
map exists exactly when every preprocessing step is *column-wise* (each output column is a
function of a single input column): one-hot and ordinal encoders, scalers, imputers, missing
indicators, binning, feature selection, passthrough and drop. Each such transformer has an
entry in ``_COLUMN_MAPS``; anything else (PCA, polynomial features, a custom transformer) has
no exact map, and the model is explained on its raw columns by the model-agnostic backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ModelStructure", "UnmappableTransformerError", "decompose"]

IntArray = npt.NDArray[np.intp]


class UnmappableTransformerError(Exception):
    """Internal: a preprocessing step has no exact output-to-input column map."""


@dataclass(frozen=True)
class ModelStructure:
    """A fitted model split into its preprocessing and its final estimator.

    Attributes
    ----------
    preprocessor : object or None
        The fitted preprocessing steps (a Pipeline of them, or one transformer); None when the
        model is a bare estimator.
    estimator : object
        The fitted final estimator.
    column_map : ndarray of int or None
        ``column_map[j]`` is the raw column index transformed column ``j`` came from; None when
        some step is not column-wise (see ``map_problem``).
    map_problem : str or None
        Why no exact column map exists, for the fallback warning.
    categories : mapping of str -> CategoryCodes
        The final estimator's native categorical columns, by transformed column name
        (``_pipeline_categories``); empty when it has none.
    """

    preprocessor: Any
    estimator: Any
    column_map: IntArray | None
    map_problem: str | None
    categories: Mapping[str, Any] = field(default_factory=dict)


def decompose(model: Any, n_raw: int, raw_names: list[str]) -> ModelStructure:
    """Split ``model`` into preprocessing and final estimator and map columns back.

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted model.
    n_raw : int
        Number of raw input columns.
    raw_names : list of str
        Names of the raw input columns, used to resolve ColumnTransformer selections.
    """
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline):
        return ModelStructure(None, model, np.arange(n_raw, dtype=np.intp), None)
    steps = [s for _, s in model.steps[:-1] if _acts_at_predict(s)]
    estimator = model.steps[-1][1]
    preprocessor = _preprocessor(model) if steps else None
    column_map: IntArray = np.arange(n_raw, dtype=np.intp)
    try:
        names = list(raw_names)
        for step in steps:
            step_map = _column_map(step, len(column_map), names)
            column_map = column_map[step_map]
            names = [raw_names[i] for i in column_map]
    except UnmappableTransformerError as exc:
        return ModelStructure(preprocessor, estimator, None, str(exc))
    return ModelStructure(preprocessor, estimator, column_map, None)


def _is_sampler(step: Any) -> bool:
    """An imbalanced-learn style sampler (SMOTE, RandomUnderSampler, ...): it resamples the
    training rows in ``fit`` and does nothing at predict time, as imblearn's Pipeline runs it."""
    return callable(getattr(step, "fit_resample", None))


def _acts_at_predict(step: Any) -> bool:
    """Whether a Pipeline step transforms rows at predict time."""
    return (
        step is not None
        and not (isinstance(step, str) and step == "passthrough")
        and (not _is_sampler(step))
    )


def _preprocessor(model: Any) -> Any:
    """The steps before the final estimator, as the fitted Pipeline runs them at predict time."""
    if not any(_is_sampler(s) for _, s in model.steps[:-1]):
        return model[:-1]
    from sklearn.pipeline import Pipeline

    # Samplers are dropped: a plain Pipeline of the remaining fitted steps transforms rows
    # exactly as imblearn's Pipeline does when it predicts.
    return Pipeline([(n, s) for n, s in model.steps[:-1] if _acts_at_predict(s)])


def _column_map(transformer: Any, n_in: int, names: list[str]) -> IntArray:
    """Input column index of each output column of a fitted column-wise ``transformer``."""
    if transformer == "passthrough":
        return np.arange(n_in, dtype=np.intp)
    for kind, mapper in _COLUMN_MAPS:
        if isinstance(transformer, kind()):
            result = mapper(transformer, n_in, names)
            return np.asarray(result, dtype=np.intp)
    raise UnmappableTransformerError(
        f"{type(transformer).__name__} mixes input columns, so its outputs cannot be traced "
        "back to single raw columns"
    )


# --- one map per transformer family -------------------------------------------------------


def _one_to_one(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    return list(range(n_in))


def _imputer(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    # SimpleImputer drops columns that were entirely missing during fit unless
    # keep_empty_features=True; its optional missing indicators follow the imputed columns.
    keep = list(range(n_in))
    stats = getattr(transformer, "statistics_", None)
    if stats is not None and not getattr(transformer, "keep_empty_features", False):
        strategy = getattr(transformer, "strategy", "mean")
        if strategy != "constant":
            keep = [i for i in range(n_in) if not _is_missing_scalar(stats[i])]
    indicator = getattr(transformer, "indicator_", None)
    if indicator is not None:
        keep = keep + [int(i) for i in indicator.features_]
    return keep


def _is_missing_scalar(value: Any) -> bool:
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _missing_indicator(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    return [int(i) for i in transformer.features_]


def _one_hot(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    counts = getattr(transformer, "_n_features_outs", None)
    if counts is None:  # older scikit-learn: derive from categories and dropped categories
        drop = getattr(transformer, "drop_idx_", None)
        counts = [
            len(cats) - (0 if drop is None or drop[i] is None else 1)
            for i, cats in enumerate(transformer.categories_)
        ]
    return [i for i, c in enumerate(counts) for _ in range(int(c))]


def _target_encoder(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    # Multiclass targets give one encoded column per class for each input column.
    per = len(transformer.classes_) if transformer.target_type_ == "multiclass" else 1
    return [i for i in range(n_in) for _ in range(per)]


def _bins(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    if transformer.encode == "ordinal":
        return list(range(n_in))
    return [i for i, nb in enumerate(transformer.n_bins_) for _ in range(int(nb))]


def _selector(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    return [int(i) for i in transformer.get_support(indices=True)]


def _function(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    # Only the identity FunctionTransformer is known to be column-wise.
    if transformer.func is None:
        return list(range(n_in))
    raise UnmappableTransformerError(
        "FunctionTransformer with a custom function may mix input columns"
    )


def _pipeline(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    column_map: IntArray = np.arange(n_in, dtype=np.intp)
    for _, step in transformer.steps:
        if not _acts_at_predict(step):
            continue
        step_names = [names[i] for i in column_map]
        column_map = column_map[_column_map(step, len(column_map), step_names)]
    return [int(i) for i in column_map]


def _column_transformer(transformer: Any, n_in: int, names: list[str]) -> list[int]:
    # ``_transformer_to_input_indices`` is the fitted ColumnTransformer's own resolution of
    # each transformer's column selection (names, masks, callables) to input indices; it has
    # been present since scikit-learn 1.2 and we require 1.4.
    inputs: dict[str, list[int]] = transformer._transformer_to_input_indices
    out: list[int] = []
    for name, fitted, _ in transformer.transformers_:
        if fitted == "drop":
            continue
        cols = [int(i) for i in inputs.get(name, [])]
        if not cols:
            continue
        sub_names = [names[i] for i in cols]
        sub_map = _column_map(fitted, len(cols), sub_names)
        out.extend(cols[int(j)] for j in sub_map)
        # A ColumnTransformer orders outputs by transformer; check our count against its own.
        sl = transformer.output_indices_.get(name)
        if sl is not None and (sl.stop - sl.start) != len(sub_map):
            raise UnmappableTransformerError(
                f"transformer {name!r} produced {sl.stop - sl.start} columns but "
                f"{len(sub_map)} were expected"
            )
    return out


def _types(*names: str) -> Callable[[], tuple[type, ...]]:
    """Resolve scikit-learn classes lazily so importing explainscore stays light."""

    def resolve() -> tuple[type, ...]:
        import importlib

        found: list[type] = []
        for dotted in names:
            module, _, cls = dotted.rpartition(".")
            found.append(getattr(importlib.import_module(module), cls))
        return tuple(found)

    return resolve


Mapper = Callable[[Any, int, list[str]], list[int]]

#: The column-wise transformers explainscore can trace exactly, checked in order.
_COLUMN_MAPS: list[tuple[Callable[[], tuple[type, ...]], Mapper]] = [
    (_types("sklearn.compose.ColumnTransformer"), _column_transformer),
    (_types("sklearn.pipeline.Pipeline"), _pipeline),
    (_types("sklearn.preprocessing.OneHotEncoder"), _one_hot),
    (
        _types(
            "sklearn.preprocessing.OrdinalEncoder",
            "sklearn.preprocessing.StandardScaler",
            "sklearn.preprocessing.MinMaxScaler",
            "sklearn.preprocessing.MaxAbsScaler",
            "sklearn.preprocessing.RobustScaler",
            "sklearn.preprocessing.PowerTransformer",
            "sklearn.preprocessing.QuantileTransformer",
            "sklearn.preprocessing.Binarizer",
        ),
        _one_to_one,
    ),
    (_types("sklearn.preprocessing.TargetEncoder"), _target_encoder),
    (_types("sklearn.impute.SimpleImputer"), _imputer),
    (_types("sklearn.impute.MissingIndicator"), _missing_indicator),
    (_types("sklearn.preprocessing.KBinsDiscretizer"), _bins),
    (_types("sklearn.feature_selection.SelectorMixin"), _selector),
    (_types("sklearn.preprocessing.FunctionTransformer"), _function),
]
