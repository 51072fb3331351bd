"""ExplainedModel: a scikit-learn meta-estimator that scores and explains every lead.

The flow runs one way: rows are validated against the schema captured at fit/wrap time
(``_inputs``), scored by the wrapped model, attributed by a backend from the registry
(``attribution``) on the raw columns (``_pipeline`` maps a Pipeline's transformed columns back),
checked for exactness (base value + sum of attributions == model output), and turned into
reasons (``reasons``) and records (``_records``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone

from ._adapters import adapt_model
from ._categories import native_categories
from ._engine import ENGINE_PARAMS as _ENGINE_PARAMS
from ._engine import Engine as _Engine
from ._engine import ModelSpace, batch_metadata, explain_frame
from ._engine import check_efficiency_one as _check_efficiency_one
from ._engine import hidden_by as _hidden_by
from ._engine import lead_fields as _lead_fields
from ._engine import secret_test as _secret_test
from ._estimator_repr import shown_params
from ._fast_lane import FastLane, LaneSlot
from ._fingerprint import model_fingerprint
from ._inputs import Schema
from ._labels_only import check_has_score
from ._model_calls import call_model, guarded
from ._output import (
    OUTPUT_SPACES,
    SPREAD_SCALED,
    ModelKind,
    OutputFn,
    inspect_model,
    library_of,
    output_function,
    resolve_space,
    resolve_target,
)
from ._params import check_choice, check_int, param_error
from ._pipeline import ModelStructure, decompose
from ._pipeline_categories import coded_array, with_final_categories
from ._records import Explanations, LeadExplanation, rejected_rows
from ._reference import FileReference
from ._row_encoder import plain_cell
from .attribution._base import Attributor, ExplainContext, OutputSpace
from .attribution._registry import BACKENDS, Backend, get_backend, method_names
from .exceptions import (
    FallbackWarning,
    InputError,
    ModelError,
    NotFittedError,
    ParameterError,
    ScoringPausedError,
    UnsupportedModelError,
)
from .governance._card import ModelCard, check_signed_off
from .governance._flow import audit_explanations, queue_for_review
from .governance._keys import Keyring
from .governance._kill_switch import (
    KillState,
    KillSwitch,
    combined_engaged,
    combined_state,
    paused_message,
)
from .governance._policy import Policy
from .governance._review import InputProfile, ReviewQueue, ReviewRules, review_reasons
from .reasons._catalog import as_catalog
from .reasons._compose import ReasonWriter
from .reasons._config import ReasonConfig, ScoreBands

__all__ = ["ExplainedModel"]

_OUTPUT_SPACES = ("auto", *OUTPUT_SPACES)
_ON_ERROR = ("raise", "skip")
#: What ``fit`` or the first explanation sets; dropped when the model itself is replaced.
_FITTED = (
    "engine_",
    "model_",
    "background_",
    "feature_names_in_",
    "n_features_in_",
    "method_",
    "output_space_",
    "model_fingerprint_",
    "signed_off_",
    "input_profile_",
    "score_bands_",
    "_default_bands",
)


class ExplainedModel(MetaEstimatorMixin, BaseEstimator):  # type: ignore[misc]
    """Wrap a fitted (or fittable) model so every prediction comes with its explanation.

    Parameters
    ----------
    model : estimator or Pipeline
        A scikit-learn compatible classifier or regressor (XGBoost, LightGBM and scikit-learn
        models, Pipelines with a ColumnTransformer). Prefit models are explained as they are;
        :meth:`fit` fits a clone.
    background : DataFrame or array-like, optional
        Representative rows of the raw inputs (typically a sample of the training data). They
        define the input schema, the base value and the reference of interventional games.
        Required for a prefit model; taken from the training data by :meth:`fit` when omitted.
    top_k : int, default=3
        Number of principal factors in each record and reason, at most: a model with fewer
        raw columns gives all of them (``top_k`` is clipped to the number of columns).
    method : {"auto", "tree", "linear", "kernel", "lime"}, default="auto"
        How attributions are computed. ``"auto"`` picks exact TreeSHAP for tree ensembles, the
        closed form for linear models, and the exact model-agnostic method otherwise.
    output_space : {"auto", "log_odds", "probability", "raw", "margin", "response"}, \
default="auto"
        The space in which attributions add up to the model output. ``"auto"`` is the method's
        native space: log-odds for boosted trees and linear classifiers, probability for
        forests and the model-agnostic method, raw (``predict``) for regressors, and
        ``"margin"`` (the sum before the link) for regressors with a link (Poisson, gamma,
        Tweedie, ``reg:logistic``, ``cross_entropy``), whose ``"response"`` is their
        ``predict``. For a classifier ``"margin"`` is ``"log_odds"`` and ``"response"`` is
        ``"probability"``; every explanation states the name resolved
        (``output_space_``).
    target_class : label, optional
        The class explained for classifiers. Default: the positive (last) class.
    target : int, optional
        The output column explained for a multi-output regressor (``predict`` returns one
        column per target). Default: the first (0). None for single-output models.
    n_background : int, default=200
        Background rows kept (sampled with ``random_state`` when more are given).
    catalog : Catalog, mapping or path, optional
        How each raw column is named, formatted and phrased in reasons, which columns are
        hidden from reps and which are actionable (:class:`~explainscore.Catalog`; a mapping
        or a JSON/YAML file path is validated into one). Columns without an entry get a
        humanized name.
    reasons : ReasonConfig, optional
        Score bands, number of factors, direction, locale, length budget (default 255
        characters, the CRM text-field limit) and next best action.
    model_version : str, optional
        A version label written into every record and CRM export; default the first 12
        characters of the model fingerprint.
    policy : Policy, optional
        Blocked features (refused as model inputs, fail closed) and hidden features (used,
        never named to a rep). See :class:`~explainscore.Policy`.
    card : ModelCard, optional
        The model's card; every record says whether the model is signed off on it.
    require_sign_off : bool, default=False
        Refuse (``NotSignedOffError``) a model whose fingerprint has no *verified* sign-off on
        ``card``: signed by a key in ``trusted_keys``, not revoked, not the owner's. The
        production doors set it; a notebook may leave it off and records then say whether
        the model is signed off (``signed_off``).
    trusted_keys : Keyring, str or Path, optional
        The keyring of approvers' public keys that sign-offs are verified against (a path is
        read as a keyring file). Default: the file named by the ``EXPLAINSCORE_TRUSTED_KEYS``
        environment variable; with neither, no sign-off verifies.
    kill_switch : KillSwitch, optional
        When engaged, ``explain`` and ``explain_one`` produce no scores and ``predict``,
        ``predict_proba``, ``decision_function`` and ``score`` raise ``ScoringPausedError``.
        Every model also obeys the process-wide switch, with or without one: the environment
        variable ``EXPLAINSCORE_KILL_SWITCH`` and the file named by
        ``EXPLAINSCORE_KILL_SWITCH_FILE`` (see :class:`~explainscore.KillSwitch`).
    on_pause : {"status", "raise"}, default="status"
        With a kill switch engaged, ``explain``: return a batch with ``status="paused"`` and
        no scores, or raise ``ScoringPausedError``.
    audit_log : AuditLog, optional
        Every explanation is recorded in this tamper-evident log.
    review : ReviewRules, optional
        When an explanation needs a human: near the threshold, out-of-range or unseen inputs,
        a proxy feature among the reasons. Records list the rules that fired.
    review_queue : ReviewQueue, optional
        Where flagged explanations are queued for a reviewer.
    method_options : mapping, optional
        Options of the method in use; a key the method does not read raises
        ``ParameterError``. ``tree``: ``memory_budget`` (bytes for precomputed tables);
        ``linear``: ``max_exact_players``; ``kernel``: ``estimator`` ("auto", "exact",
        "sampling"), ``n_samples``, ``n_permutations``, ``max_exact_players``,
        ``memory_budget``; ``lime``: ``num_samples``.
    random_state : int, default=0
        Seed for background sampling and sampling methods.

    Attributes
    ----------
    model_ : estimator
        The fitted model that is explained.
    feature_names_in_ : ndarray of str
        The raw input columns, in order.
    n_features_in_ : int
    method_ : str
        The method in use.
    output_space_ : str
        The output space in use.
    background_ : DataFrame
        The background rows in use.
    model_fingerprint_ : str
        SHA-256 fingerprint of ``model_``.
    score_bands_ : ScoreBands
        The score bands reasons are written with: ``reasons.bands`` when given, else derived
        from the model's scores of its training rows at :meth:`fit` (of the background rows
        given, for a prefit model), by :meth:`ScoreBands.from_scores
        <explainscore.ScoreBands.from_scores>`: for a classifier Medium from the base rate
        and High from twice it; for other outputs High from the 80th percentile and Medium
        from the median. They are kept until the next ``fit``, saved in bundles and written
        on model cards.
    """

    def __init__(
        self,
        model: Any,
        *,
        background: Any = None,
        top_k: int = 3,
        method: str = "auto",
        output_space: str = "auto",
        target_class: Any = None,
        target: int | None = None,
        n_background: int = 200,
        catalog: Any = None,
        reasons: ReasonConfig | None = None,
        model_version: str | None = None,
        policy: Policy | None = None,
        card: ModelCard | None = None,
        require_sign_off: bool = False,
        trusted_keys: Keyring | str | Path | None = None,
        kill_switch: KillSwitch | None = None,
        on_pause: str = "status",
        audit_log: Any = None,
        review: ReviewRules | None = None,
        review_queue: ReviewQueue | None = None,
        method_options: Mapping[str, Any] | None = None,
        random_state: int = 0,
    ) -> None:
        self.model = model
        self.background = background
        self.top_k = top_k
        self.method = method
        self.output_space = output_space
        self.target_class = target_class
        self.target = target
        self.n_background = n_background
        self.catalog = catalog
        self.reasons = reasons
        self.model_version = model_version
        self.policy = policy
        self.card = card
        self.require_sign_off = require_sign_off
        self.trusted_keys = trusted_keys
        self.kill_switch = kill_switch
        self.on_pause = on_pause
        self.audit_log = audit_log
        self.review = review
        self.review_queue = review_queue
        self.method_options = method_options
        self.random_state = random_state

    # --- scikit-learn plumbing ------------------------------------------------------------

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        from sklearn.utils import get_tags

        inner = get_tags(self.model)
        tags.estimator_type = inner.estimator_type
        tags.input_tags = inner.input_tags
        tags.target_tags = inner.target_tags
        return tags

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        # scikit-learn's repr with each changed parameter, but data (a background frame, a
        # catalog) by its shape: printing a model must not print leads.
        return str(BaseEstimator.__repr__(self._shown(), N_CHAR_MAX))

    def _get_params_html(self, *args: Any, **kwargs: Any) -> Any:
        # The parameter table of the notebook display, with the same stand-ins as __repr__.
        return BaseEstimator._get_params_html(self._shown(), *args, **kwargs)

    def _shown(self) -> ExplainedModel:
        """A parameters-only copy whose data values are short stand-ins (never fitted)."""
        shown = object.__new__(type(self))
        shown.__dict__.update(shown_params(self.get_params(deep=False)))
        return shown

    def __getstate__(self) -> dict[str, Any]:
        # The engine holds closures over the model; it is derived state, rebuilt on load.
        state: dict[str, Any] = dict(super().__getstate__())
        state.pop("engine_", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "model_" in state:
            profile = state["input_profile_"]
            # A pickle is trusted already (unpickling runs code), so the sign-off verdict it
            # carries stands: a Spark executor or worker need not hold the keyring.
            self._build(
                state["model_"],
                state["background_"],
                fingerprint=state["model_fingerprint_"],
                verified=state.get("signed_off_") is True,
            )
            self.input_profile_ = profile

    def set_params(self, **params: Any) -> ExplainedModel:
        """Set parameters, and keep the prepared explainer in step with them.

        A new ``model`` drops the fitted state (call ``fit`` again, or explain a prefit model
        to prepare it). Any parameter the explainer is built from (``method``,
        ``output_space``, ``catalog``, ``reasons``, ``policy``, ``background``, ...) rebuilds
        it at once on the same fitted model, so the next explanation uses the new value; the
        background rows are the new ``background`` if given, else the rows already in use
        (``n_background`` can then only shrink them: refit to draw more). Parameters read at
        each call (``top_k``, ``kill_switch``, ``audit_log``, ``review``, ...) need nothing.
        """
        super().set_params(**params)
        if getattr(self, "engine_", None) is None:
            return self
        if "model" in params:
            for name in _FITTED:
                self.__dict__.pop(name, None)
            return self
        if _ENGINE_PARAMS.isdisjoint(params):
            return self
        self._check_params()
        profile = self.input_profile_
        new_rows = "background" in params and self.background is not None
        source = self.background if new_rows else self.background_
        self._build(self.model_, source, fingerprint=self.model_fingerprint_)
        if not new_rows:
            self.input_profile_ = profile  # from all the rows the model was prepared with
        return self

    @property
    def classes_(self) -> np.ndarray[Any, Any]:
        return np.asarray(self._engine().kind.classes)

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any, **fit_params: Any) -> ExplainedModel:
        """Fit a clone of ``model`` on ``X, y`` and prepare its explainer.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Raw training rows.
        y : array-like of shape (n_samples,)
        **fit_params
            Passed to the model's ``fit``.
        """
        self._check_params()
        frame = _training_frame(X)
        if len(frame) == 0:
            raise InputError("fit got no rows: pass at least one training row.")
        if self.policy is not None:
            # Before fitting: a model without column names could not be checked after it.
            self.policy.check_named(_names_given([str(c) for c in frame.columns]), where="fit")
            self.policy.check_inputs(frame.columns, where="fit")
        model = clone(self.model)
        model_X = frame if isinstance(X, pd.DataFrame) else np.asarray(X)
        model.fit(model_X, y, **fit_params)
        source = frame if self.background is None else self.background
        # Score bands come from the training scores, whatever the background rows are.
        self._build(model, source, band_rows=frame)
        return self

    def _ensure_built(self) -> _Engine:
        engine: _Engine | None = getattr(self, "engine_", None)
        if engine is None:
            self._check_params()
            if self.background is None:
                raise ParameterError(
                    "The 'background' parameter of ExplainedModel must be a DataFrame or "
                    "array of representative rows for a prefit model. Got None instead. "
                    "Pass background=X_train (or a sample), or call fit(X, y)."
                )
            model = adapt_model(self.model)
            _check_fitted(model)
            self._build(model, self.background)
            engine = self.engine_
        return engine

    def _build_from_file(
        self,
        model: Any,
        background: Any,
        *,
        fingerprint: str,
        reference: FileReference | None = None,
        default_bands: ScoreBands | None = None,
    ) -> None:
        """Prepare a model loaded by :func:`explainscore.load`.

        Its fingerprint is the saved bundle's (verified on load), so a card signs off
        everything the model says or shows. ``reference`` carries what the bundle kept instead
        of raw rows (input profile, missing-value acceptance, raw-output scale): ``background``
        is then a summary or rows synthesized from the profile, and these saved facts are
        used instead of being re-measured on it, here and whenever the model is rebuilt on
        the same rows (``set_params``, unpickling).
        """
        self._check_params()
        self._file_reference = None if reference is None else (reference, background)
        if default_bands is not None:
            self._default_bands = default_bands  # as saved: kept, not re-derived
        self._build(model, background, fingerprint=fingerprint)

    def _saved_reference(self, background_source: Any) -> FileReference | None:
        """The bundle's saved facts, when the model is (re)built on the rows it was loaded with."""
        saved: tuple[FileReference, Any] | None = self.__dict__.get("_file_reference")
        if saved is None:
            return None
        reference, loaded_rows = saved
        if background_source is loaded_rows or background_source is self.__dict__.get(
            "background_"
        ):
            return reference
        return None  # new rows were given: measure them

    def _engine(self) -> _Engine:
        return self._ensure_built()

    def _check_params(self) -> None:
        where = "ExplainedModel"
        check_int(self.top_k, "top_k", where, low=1)
        check_choice(self.method, "method", where, method_names())
        check_choice(self.output_space, "output_space", where, _OUTPUT_SPACES)
        if self.target is not None and (
            isinstance(self.target, bool) or not isinstance(self.target, int | np.integer)
        ):
            raise param_error("target", where, "None or an int (the output column)", self.target)
        check_int(self.n_background, "n_background", where, low=1)
        check_int(self.random_state, "random_state", where, low=0)
        if self.reasons is not None and not isinstance(self.reasons, ReasonConfig):
            raise param_error("reasons", where, "a ReasonConfig or None", self.reasons)
        if self.model_version is not None and not isinstance(self.model_version, str):
            raise param_error("model_version", where, "a str or None", self.model_version)
        check_choice(self.on_pause, "on_pause", where, ("status", "raise"))
        for name, kind in (
            ("policy", Policy),
            ("card", ModelCard),
            ("kill_switch", KillSwitch),
            ("review", ReviewRules),
            ("review_queue", ReviewQueue),
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise param_error(name, where, f"a {kind.__name__} or None", value)
        if self.trusted_keys is not None and not isinstance(
            self.trusted_keys, Keyring | str | Path
        ):
            raise param_error(
                "trusted_keys", where, "a Keyring, a keyring file path or None", self.trusted_keys
            )
        if self.method_options is not None and not isinstance(self.method_options, Mapping):
            raise param_error("method_options", where, "a mapping", self.method_options)

    def _build(
        self,
        model: Any,
        background_source: Any,
        *,
        fingerprint: str | None = None,
        verified: bool = False,
        band_rows: Any = None,
    ) -> None:
        names = _raw_names(model, background_source)
        if self.policy is not None:
            self.policy.check_named(_names_given(names), where="ExplainedModel")
        catalog = as_catalog(self.catalog)
        secret = _secret_test(catalog, self.policy)
        hidden = frozenset(n for n in names if _hidden_by(n, catalog, self.policy))
        wants_frame = hasattr(model, "feature_names_in_")
        bg_frame = _background_frame(background_source, names)
        schema = Schema.capture(bg_frame, wants_frame=wants_frame).with_secret(secret)
        # Native categorical columns: categories and codes read off the model itself.
        schema = schema.with_categories(native_categories(model, names, bg_frame))
        bg_frame = schema.to_frame(bg_frame, where="background")
        # Ranges and categories for review come from all rows given, before subsampling
        # (for a model loaded from a bundle: as saved, see _build_from_file).
        saved = self._saved_reference(background_source)
        self.input_profile_ = InputProfile.of(bg_frame) if saved is None else saved.profile
        all_rows = bg_frame
        if len(bg_frame) > self.n_background:
            rng = np.random.default_rng(self.random_state)
            pick = np.sort(rng.choice(len(bg_frame), size=self.n_background, replace=False))
            bg_frame = bg_frame.iloc[pick]
        structure = decompose(model, len(names), names)
        # A Pipeline handing category columns to a final estimator that splits on them.
        structure, schema = with_final_categories(structure, schema, bg_frame)
        if self.policy is not None:
            self.policy.check_inputs(names, where="ExplainedModel")
            self.policy.check_inputs(_transformed_names(structure), where="ExplainedModel")
        kind = inspect_model(structure.estimator)
        target_index = _target_index(kind, self.target_class)
        output_column = resolve_target(model, kind, schema.model_input(bg_frame), self.target)
        if output_column is not None:
            target_index = output_column  # a multi-output regressor's target
        backend = self._select_backend(structure)
        unknown = sorted(set(self.method_options or {}) - set(backend.options))
        if unknown:
            takes = ", ".join(repr(o) for o in backend.options) or "none"
            raise ParameterError(
                f"The 'method_options' parameter of ExplainedModel has option(s) "
                f"{', '.join(repr(str(u)) for u in unknown)} that method={backend.name!r} does "
                f"not take. It takes: {takes}."
            )
        est_for_backend = structure.estimator if backend.input_space == "model" else model
        auto = self.output_space == "auto"
        space = resolve_space(
            structure.estimator,
            kind,
            backend.native_space(structure.estimator, kind) if auto else self.output_space,
            auto=auto,
        )
        output_fn = guarded(
            model, _method_of(model, kind, space), output_function(model, kind, space, target_index)
        )
        score_fn = _score_function(model, kind, target_index)
        if saved is None:
            schema = _probe_missing(schema, bg_frame, score_fn)
        else:
            schema = schema.with_missing_allowed(saved.allow_missing, saved.missing_as_none)

        if backend.input_space == "model":
            groups = np.asarray(structure.column_map, dtype=np.intp)
            background = _model_space(structure, schema, bg_frame)
            value_fn = guarded(
                structure.estimator,
                _method_of(structure.estimator, kind, space),
                output_function(structure.estimator, kind, space, target_index),
            )
            if structure.preprocessor is None and schema.has_codes:
                # Codes back to labels: the model scores native categories by label.
                value_fn = _decoded_value_function(output_fn, schema)
        else:
            groups = np.arange(len(names), dtype=np.intp)
            background = _raw_array(bg_frame, schema)
            value_fn = _raw_value_function(output_fn, schema)
        context = ExplainContext(
            estimator=est_for_backend,
            background=background,
            groups=groups,
            player_names=list(names),
            output_space=space,
            target_class=target_index,
            value_function=value_fn,
            random_state=self.random_state,
            options=dict(self.method_options or {}),
        )
        attributor = backend.build(context)
        config = self.reasons or ReasonConfig()
        probability = kind.is_classifier and kind.has_proba
        default_bands: ScoreBands | None = self.__dict__.get("_default_bands")
        if default_bands is None or band_rows is not None:
            # Derived once, at fit (or at the first explanation of a prefit model), and kept
            # when the model is rebuilt (set_params, unpickling, load) on fewer rows.
            rows = all_rows
            if band_rows is not None and band_rows is not background_source:
                rows = schema.to_frame(_background_frame(band_rows, names), where="fit")
            default_bands = _bands_from_rows(rows, schema, score_fn, probability, self.random_state)
        bands = config.bands if config.bands is not None else default_bands
        config = config.model_copy(update={"bands": bands})
        raw_scale = 1.0
        if space in SPREAD_SCALED and saved is not None and saved.raw_scale is not None:
            raw_scale = saved.raw_scale
        elif space in SPREAD_SCALED:
            raw_scale = float(np.std(output_fn(schema.model_input(bg_frame)))) or 1.0
        writer = ReasonWriter(
            catalog=catalog,
            config=config,
            feature_names=names,
            output_space=space,
            probability=probability,
            raw_scale=raw_scale,
            hidden=hidden,
        )
        fingerprint = fingerprint or model_fingerprint(model)
        # signed_off_ means *verified*: a sign-off written into a card by hand counts for
        # nothing, whether or not this model requires one.
        if verified:
            signed_off = True
        elif self.require_sign_off:
            check_signed_off(
                self.card, fingerprint, where="ExplainedModel", keyring=self.trusted_keys
            )
            signed_off = True
        else:
            signed_off = self.card is not None and self.card.is_signed_off(
                fingerprint, keyring=self.trusted_keys
            )
        self.model_ = model
        self.background_ = bg_frame
        self._default_bands = default_bands
        self.score_bands_ = bands
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.method_ = backend.name
        self.output_space_ = space
        self.model_fingerprint_ = fingerprint
        self.signed_off_ = signed_off
        final_fns = _final_functions(structure, kind, backend, space, target_index)
        self.engine_ = _Engine(
            schema=schema,
            structure=structure,
            kind=kind,
            backend=backend,
            attributor=attributor,
            output_space=space,
            target_index=target_index,
            score_fn=score_fn,
            output_fn=output_fn,
            final_fns=final_fns,
            library=_library_scores(
                attributor,
                backend,
                kind,
                schema,
                bg_frame,
                background,
                final_fns,
                (score_fn, output_fn),
            ),
            fingerprint=self.model_fingerprint_,
            tolerance=1e-5 if kind.float32 else 1e-6,
            writer=writer,
            catalog=catalog,
            version=self.model_version or self.model_fingerprint_.split(":")[1][:12],
            hidden=hidden,
        )
        # Bound now: the lane is built later, from this fit's values.
        tolerance, categories = self.engine_.tolerance, self.input_profile_.categories
        self.engine_ = replace(
            self.engine_,
            lane_slot=LaneSlot(
                lambda: FastLane.build(
                    attributor=attributor,
                    structure=structure,
                    kind=kind,
                    schema=schema,
                    target_index=target_index,
                    writer=writer,
                    catalog=catalog,
                    allowed=[n for n in names if n not in hidden],
                    background=bg_frame,
                    score_fn=score_fn,
                    output_fn=output_fn,
                    tolerance=tolerance,
                    categories=categories,
                )
            ),
            lead_fields=_lead_fields(self.engine_),
        )

    def _hidden_columns(self) -> frozenset[str]:
        """The model's columns never named to a rep (hidden by the catalog or the policy)."""
        return self._ensure_built().hidden

    def _kill_state(self) -> KillState:
        """The kill switch every door obeys: the process-wide one (``EXPLAINSCORE_KILL_SWITCH``,
        the file named by ``EXPLAINSCORE_KILL_SWITCH_FILE``), then ``kill_switch``."""
        return combined_state(self.kill_switch)

    def _check_not_paused(self, where: str) -> None:
        """Raise ``ScoringPausedError`` while a kill switch is engaged (for doors that cannot
        answer "paused" in their return value)."""
        if combined_engaged(self.kill_switch):
            raise ScoringPausedError(paused_message(self._kill_state(), where))

    def _clipped_top_k(self, top_k: int | None, where: str) -> int:
        """``top_k`` (the call's, else the model's) clipped to the number of raw columns: a
        one- or two-column model gives all its columns under the default of 3."""
        k = self.top_k if top_k is None else top_k
        if type(k) is not int or k < 1:  # else surely valid
            k = check_int(k, "top_k", where, low=1)
        return min(k, self.n_features_in_)

    def _select_backend(self, structure: ModelStructure) -> Backend:
        est = structure.estimator
        check_has_score(est)
        if self.method != "auto":
            backend = get_backend(self.method)
            target = est if backend.input_space == "model" else self.model
            if not backend.supports(target):
                raise UnsupportedModelError(
                    f"method={self.method!r} does not support {type(est).__name__}; "
                    "use method='auto', which picks the exact method that does."
                )
            if backend.input_space == "model" and structure.column_map is None:
                raise UnsupportedModelError(
                    f"method={self.method!r} needs every preprocessing step to be column-wise, "
                    f"but {structure.map_problem}; use method='kernel'."
                )
            return backend
        for backend in BACKENDS:
            if not backend.auto:
                continue
            if backend.input_space == "model":
                if not backend.supports(est):
                    continue
                if structure.column_map is None:
                    warnings.warn(
                        f"{type(est).__name__} supports method={backend.name!r}, but "
                        f"{structure.map_problem}; explaining the raw columns with the "
                        "model-agnostic method='kernel' instead.",
                        FallbackWarning,
                        stacklevel=4,
                    )
                    continue
                return backend
            # A raw-space backend may be for some models only (method="catboost").
            if backend.supports(self.model):
                return backend
        raise UnsupportedModelError(
            f"{type(est).__name__} has no predict_proba, decision_function or predict "
            "method, so it cannot be explained."
        )

    # --- explaining ------------------------------------------------------------------------

    def explain(
        self,
        X: Any,
        *,
        top_k: int | None = None,
        on_error: str = "raise",
        actor: str | None = None,
        request_id: str | None = None,
        lead_ids: Any = None,
    ) -> Explanations:
        """Score and explain a batch of leads.

        Parameters
        ----------
        X : DataFrame, dict, list of dicts or array-like
            Raw rows with the model's columns.
        top_k : int, optional
            Principal factors per lead; default the model's ``top_k``. Clipped to the number
            of raw columns.
        on_error : {"raise", "skip"}, default="raise"
            ``"skip"`` explains the valid rows and lists the others in
            :attr:`Explanations.rejected` with the column and problem.
        actor, request_id : str, optional
            Who asked and the request's id, written to the audit log.
        lead_ids : sequence, optional
            One id per row, written to the audit log pseudonymized (keyed hash).

        Returns
        -------
        Explanations
        """
        engine = self._ensure_built()
        check_choice(on_error, "on_error", "explain", _ON_ERROR)
        k = self._clipped_top_k(top_k, "explain")
        if self.policy is not None:
            self.policy.check_inputs(_input_columns(X), where="explain")
        if combined_engaged(self.kill_switch):
            state = self._kill_state()
            if self.on_pause == "raise":
                raise ScoringPausedError(paused_message(state, "explain"))
            frame = engine.schema.to_frame(X, where="explain")
            return self._paused(engine, frame, k, state.reason or "kill switch engaged")
        validated = engine.schema.validate(X, where="explain")
        if on_error == "raise":
            validated.raise_first()
        good = validated.good
        if not good.any():
            validated.raise_first()
        frame = validated.frame[good] if validated.problems else validated.frame
        batch = self._explain_frame(engine, frame, k, rejected_rows(validated.problems))
        ids = None if lead_ids is None else [v for v, g in zip(lead_ids, good, strict=True) if g]
        return self._govern(batch, actor=actor, request_id=request_id, lead_ids=ids)

    def _govern(
        self,
        batch: Explanations,
        *,
        actor: str | None,
        request_id: str | None,
        lead_ids: list[Any] | None,
    ) -> Explanations:
        """Review flags, audit records and review-queue items for an explained batch."""
        flags: list[tuple[str, ...]] = [()] * len(batch)
        if self.review is not None:
            flags = review_reasons(
                rules=self.review,
                profile=self.input_profile_,
                frame=batch.data,
                scores=batch.scores,
                reason_features=[[c.feature for c in codes] for codes in batch.reason_codes],
                hidden=batch.hidden,
            )
        seqs: list[int | None] = [None] * len(batch)
        batch = replace(batch, review_reasons=flags)
        if self.audit_log is not None:
            # One transaction and one fsync for the whole batch.
            seqs = audit_explanations(
                self.audit_log,
                list(batch),
                names=batch.feature_names,
                rows=[[plain_cell(v) for v in r] for r in batch.data.to_numpy(dtype=object)],
                hidden=batch.hidden,
                lead_ids=lead_ids,
                actor=actor,
                request_id=request_id,
                policy_version=batch.policy_version,
            )
            batch = replace(batch, audit_seqs=seqs)
        if self.review_queue is not None:
            queue_for_review(
                self.review_queue, list(batch), flags=flags, seqs=seqs, request_id=request_id
            )
        return batch

    def explain_one(self, row: Any, *, top_k: int | None = None) -> LeadExplanation:
        """Score and explain one lead (a dict, a Series, a 1-row DataFrame or a 1-D array).

        For compiled tree models (bare, or behind a column-wise Pipeline such as one-hot
        encoding and scaling) a row in any of these forms takes a fast path without pandas
        validation, with the same numbers, checks and governance (review rules, audit log,
        review queue); rows the fast path cannot vouch for (a kill switch engaged, a text
        cell behind an encoder it cannot reproduce) use the batch path, with the same record.
        """
        fast = self._explain_fast(row, top_k=top_k)
        if fast is not None:
            return fast
        batch = self.explain(row, top_k=top_k)
        if len(batch) != 1:
            raise InputError(
                f"explain_one takes one row, got {len(batch)}; use explain for a batch."
            )
        return batch[0]

    def _lane_accepts(
        self, row: Any, *, where: str, engine: _Engine | None = None
    ) -> tuple[FastLane, Any] | None:
        """The fast lane and the accepted row, or None when the batch path must serve it (no
        lane, governance that needs the batch path, or a row the lane cannot vouch for)."""
        lane = (engine or self._ensure_built()).lane
        if lane is None or combined_engaged(self.kill_switch):
            return None
        accepted = lane.accept(row)
        if accepted is None:
            return None
        if self.policy is not None:
            self.policy.check_inputs(_input_columns(row), where=where)
        return lane, accepted

    def _score_fast(self, row: Any) -> float | None:
        """One lead's score from the fast lane (as ``explain_one`` reports it), or None."""
        taken = self._lane_accepts(row, where="predict")
        return None if taken is None else taken[0].score(taken[1])

    def _explain_fast(
        self,
        row: Any,
        *,
        top_k: int | None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> LeadExplanation | None:
        """One lead through the fast lane, governed as a batch is, or None when the lane
        cannot take it (see ``_lane_accepts``). Also used by the HTTP service for
        single-instance requests (``actor`` and ``request_id`` go to the audit log)."""
        engine = self._ensure_built()
        taken = self._lane_accepts(row, where="explain", engine=engine)
        if taken is None:
            return None
        lane, accepted = taken
        k = self._clipped_top_k(top_k, "explain_one")
        record = lane.explain(
            accepted,
            writer=engine.writer,
            catalog=engine.catalog,
            k=k,
            exact_check=_check_efficiency_one,
            # The record fields of ``_batch_metadata``, without the batch-only ones.
            metadata={
                **engine.lead_fields,
                "signed_off": self.signed_off_,
                "policy_version": None if self.policy is None else self.policy.version,
            },
            display_names=engine.writer.display_names,
        )
        if self.review is None and self.audit_log is None and self.review_queue is None:
            return record
        return lane.govern(
            record,
            accepted,
            review=self.review,
            profile=self.input_profile_,
            audit_log=self.audit_log,
            review_queue=self.review_queue,
            hidden=engine.hidden,
            actor=actor,
            request_id=request_id,
        )

    def _explain_frame(
        self, engine: _Engine, frame: pd.DataFrame, k: int, rejected: list[Any]
    ) -> Explanations:
        structure, schema = engine.structure, engine.schema
        if engine.backend.input_space == "model":
            model_space: ModelSpace = lambda f: _model_space(structure, schema, f)  # noqa: E731
        else:
            model_space = lambda f: _raw_array(f, schema)  # noqa: E731
        return explain_frame(
            engine,
            frame,
            k=k,
            rejected=rejected,
            model_space=model_space,
            signed_off=self.signed_off_,
            policy=self.policy,
        )

    def _batch_metadata(self, engine: _Engine, k: int) -> dict[str, Any]:
        """The fields every batch carries, explained or paused."""
        return batch_metadata(engine, k, signed_off=self.signed_off_, policy=self.policy)

    def _paused(self, engine: _Engine, frame: pd.DataFrame, k: int, why: str) -> Explanations:
        n, m = len(frame), self.n_features_in_
        nan = np.full(n, np.nan)
        message = f"Scoring paused: {why}."
        return Explanations(
            scores=nan,
            outputs=nan.copy(),
            base_values=nan.copy(),
            attributions=np.full((n, m), np.nan),
            reasons=[message] * n,
            bands=[""] * n,
            reason_codes=[()] * n,
            next_best_actions=[None] * n,
            data=frame,
            exact=False,
            target_class=None,
            status="paused",
            **self._batch_metadata(engine, k),
        )

    # --- predicting ------------------------------------------------------------------------

    def _model_rows(self, X: Any, where: str) -> Any:
        engine = self._ensure_built()
        if self.policy is not None:
            self.policy.check_inputs(_input_columns(X), where=where)
        # These doors return the model's own values, with no room for a "paused" status.
        self._check_not_paused(where)
        validated = engine.schema.validate(X, where=where)
        validated.raise_first()
        return engine.schema.model_input(validated.frame)

    def predict(self, X: Any) -> Any:
        """The wrapped model's ``predict`` on validated rows.

        Raises ``ScoringPausedError`` while a kill switch is engaged (as do
        ``predict_proba``, ``decision_function`` and ``score``).
        """
        rows = self._model_rows(X, "predict")
        return call_model(self.model_, "predict", self.model_.predict, rows)

    def predict_proba(self, X: Any) -> Any:
        """The wrapped model's ``predict_proba`` on validated rows."""
        rows = self._model_rows(X, "predict_proba")
        return call_model(self.model_, "predict_proba", self.model_.predict_proba, rows)

    def decision_function(self, X: Any) -> Any:
        """The wrapped model's ``decision_function`` on validated rows."""
        rows = self._model_rows(X, "decision_function")
        return call_model(self.model_, "decision_function", self.model_.decision_function, rows)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The wrapped model's ``score`` (accuracy or R^2) on validated rows."""
        rows = self._model_rows(X, "score")
        return float(self.model_.score(rows, y, sample_weight=sample_weight))


# --- helpers -------------------------------------------------------------------------------


def _input_columns(X: Any) -> list[str]:
    """Column names of what the user passed, when it has any (for the policy check)."""
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    if isinstance(X, pd.Series):
        return [str(c) for c in X.index]
    if isinstance(X, Mapping):
        return [str(c) for c in X]
    if isinstance(X, list) and X and isinstance(X[0], Mapping):
        return sorted({str(c) for row in X for c in row})
    return []


def _names_given(names: list[str]) -> bool:
    """Whether the model's columns have real names, not ones made up for an array.

    An array has none: explainscore calls its columns x0, x1, ..., LightGBM Column_0, ...,
    and a DataFrame without names has 0, 1, .... A policy cannot be checked against those.
    """
    n = len(names)
    return not any(names == [f"{p}{j}" for j in range(n)] for p in ("x", "Column_", ""))


def _transformed_names(structure: ModelStructure) -> list[str]:
    pre = structure.preprocessor
    if pre is None or not hasattr(pre, "get_feature_names_out"):
        return []
    try:
        return [str(n) for n in pre.get_feature_names_out()]
    except Exception:
        return []


#: Training rows scored to derive the default score bands, at most (a sample beyond): the
#: mean and quantiles of 100,000 scores are stable to well under the 4 decimals kept.
_MAX_BAND_ROWS = 100_000


def _bands_from_rows(
    rows: pd.DataFrame, schema: Schema, score_fn: OutputFn, probability: bool, seed: int
) -> ScoreBands:
    """Default High / Medium / Low cut-offs from the model's scores of ``rows``."""
    if len(rows) > _MAX_BAND_ROWS:
        rng = np.random.default_rng(seed)
        rows = rows.iloc[np.sort(rng.choice(len(rows), size=_MAX_BAND_ROWS, replace=False))]
    scores = np.asarray(score_fn(schema.model_input(rows)), dtype=np.float64)
    return ScoreBands.from_scores(scores, probability=probability)


def _check_fitted(model: Any) -> None:
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(model, "fit") and not hasattr(model, "predict"):
        raise ModelError(f"{type(model).__name__} is not a model: it has no fit or predict method.")
    try:
        check_is_fitted(model)
    except SkNotFitted as exc:
        raise NotFittedError(
            f"The {type(model).__name__} passed to ExplainedModel is not fitted. Fit it "
            "first, or call ExplainedModel(...).fit(X, y)."
        ) from exc
    except TypeError as exc:
        raise ModelError(
            f"{type(model).__name__} is not a scikit-learn compatible estimator ({exc})."
        ) from exc


def _training_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X.rename(columns=str)
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise InputError(f"fit takes a 2-D table of rows; got {arr.ndim} dimension(s).")
    return pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])


def _raw_names(model: Any, source: Any) -> list[str]:
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        return [str(n) for n in fitted]
    if isinstance(source, pd.DataFrame):
        return [str(c) for c in source.columns]
    n = getattr(model, "n_features_in_", None)
    if n is None:
        n = np.asarray(source).shape[1]
    return [f"x{j}" for j in range(int(n))]


def _background_frame(source: Any, names: list[str]) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.rename(columns=str)
    arr = np.asarray(source)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise InputError(
            f"background must be a 2-D table with the model's {len(names)} columns; got "
            f"shape {arr.shape}."
        )
    return pd.DataFrame(arr, columns=names)


def _target_index(kind: ModelKind, target_class: Any) -> int | None:
    if not kind.is_classifier or kind.classes is None:
        if target_class is not None:
            raise param_error(
                "target_class", "ExplainedModel", "None for a regressor", target_class
            )
        return None
    classes = list(kind.classes)
    if target_class is None:
        return len(classes) - 1
    for i, c in enumerate(classes):
        if c == target_class:
            return i
    raise param_error(
        "target_class", "ExplainedModel", f"one of the model's classes {classes}", target_class
    )


def _score_function(model: Any, kind: ModelKind, target: int | None) -> OutputFn:
    space: OutputSpace = "probability" if kind.is_classifier and kind.has_proba else "raw"
    method = _method_of(model, kind, space)
    return guarded(model, method, output_function(model, kind, space, target))


def _method_of(model: Any, kind: ModelKind, space: str) -> str:
    """The model method an output space is read from, for the safety net's message."""
    if space == "probability":
        return "predict_proba"
    if kind.is_classifier and callable(getattr(model, "decision_function", None)):
        return "decision_function"
    return "predict"


def _final_functions(
    structure: ModelStructure,
    kind: ModelKind,
    backend: Backend,
    space: OutputSpace,
    target: int | None,
) -> tuple[OutputFn, OutputFn] | None:
    """Score and output functions of the final estimator, for the one-transform path.

    Only for Pipelines explained in the transformed space whose final estimator was fitted on
    arrays (one fitted on named columns would warn about an array input).
    """
    est = structure.estimator
    if (
        structure.preprocessor is None
        or backend.input_space != "model"
        or hasattr(est, "feature_names_in_")
    ):
        return None
    output = guarded(est, _method_of(est, kind, space), output_function(est, kind, space, target))
    return _score_function(est, kind, target), output


def _library_scores(
    attributor: Attributor,
    backend: Backend,
    kind: ModelKind,
    schema: Schema,
    bg_frame: pd.DataFrame,
    background: Any,
    final_fns: tuple[OutputFn, OutputFn] | None,
    fns: tuple[OutputFn, OutputFn],
) -> Any:
    """The compiled trees' scores in the library's arithmetic (a ``LibraryScores``), when
    they equal the model's on the background rows; else None."""
    scorer = getattr(attributor, "library_scores", None)
    if scorer is None or backend.input_space != "model" or len(bg_frame) == 0:
        return None
    if final_fns is not None:  # the final estimator on the transformed rows: no transform
        expected = (final_fns[0](background), final_fns[1](background))
    else:
        model_in = schema.model_input(bg_frame)
        expected = (fns[0](model_in), fns[1](model_in))
    return scorer(
        classifier=kind.is_classifier,
        n_classes=kind.n_classes,
        reference=background,
        expected=expected,
    )


def _probe_missing(schema: Schema, bg: pd.DataFrame, score_fn: OutputFn) -> Schema:
    """Find out, per column, whether the model accepts a missing value there.

    Asking the model is the only exact answer (XGBoost routes NaN, a Pipeline may impute, a
    logistic regression refuses). One batch with one missing cell per row, and one call per
    column only when that batch fails.
    """
    n = len(schema.columns)
    probe = pd.concat([bg.iloc[[0]]] * n, ignore_index=True)
    for j, spec in enumerate(schema.columns):
        # object / float first, so the column can hold the missing value without a dtype clash
        probe[spec.name] = probe[spec.name].astype(object if spec.kind == "categorical" else float)
        probe.iloc[j, j] = np.nan
    # Missing text is handed over as NaN (what pandas reads and imputers look for); a column
    # whose preprocessor fails on NaN but takes None (a OneHotEncoder fitted on text only,
    # which reads None as unknown) gets None. model_input then turns every missing form into
    # the one found here, so what was probed is what the model receives.
    everyone = {c.name: True for c in schema.columns}
    as_nan = schema.with_missing_allowed(everyone)
    if _accepts(as_nan, probe, score_fn):
        return as_nan
    allowed: dict[str, bool] = {}
    as_none: dict[str, bool] = {}
    for j, spec in enumerate(schema.columns):
        row = probe.iloc[[j]]
        allowed[spec.name] = _accepts(as_nan, row, score_fn)
        if not allowed[spec.name] and spec.kind == "categorical" and spec.categories is None:
            none = schema.with_missing_allowed(everyone, {spec.name: True})
            allowed[spec.name] = as_none[spec.name] = _accepts(none, row, score_fn)
    return schema.with_missing_allowed(allowed, as_none)


def _accepts(schema: Schema, rows: pd.DataFrame, score_fn: OutputFn) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = score_fn(schema.model_input(rows))
    except Exception:
        return False
    return bool(np.all(np.isfinite(out)))


def _model_space(
    structure: ModelStructure, schema: Schema, frame: pd.DataFrame
) -> np.ndarray[Any, Any]:
    """Rows in the final estimator's input space, as dense float64."""
    if structure.preprocessor is None:
        return schema.model_array(frame)  # native categories as the model's codes
    pre = structure.preprocessor
    X = call_model(pre, "transform", pre.transform, schema.model_input(frame))
    if structure.categories and isinstance(X, pd.DataFrame):
        return coded_array(X, structure.categories)  # native categories as the model's codes
    if hasattr(X, "toarray"):
        # XGBoost reads the zeros a sparse matrix leaves out as *missing*; reproduce that.
        if library_of(structure.estimator) == "xgboost":
            coo = X.tocoo()
            dense = np.full(coo.shape, np.nan)
            dense[coo.row, coo.col] = coo.data
            return dense
        X = X.toarray()
    return np.asarray(X, dtype=np.float64)


def _raw_array(frame: pd.DataFrame, schema: Schema) -> np.ndarray[Any, Any]:
    if all(c.kind == "numeric" for c in schema.columns):
        return frame.to_numpy(dtype=np.float64, na_value=np.nan)
    return frame.to_numpy(dtype=object)


def _decoded_value_function(output_fn: OutputFn, schema: Schema) -> Any:
    return lambda X: output_fn(schema.model_input(schema.from_model_array(X)))


def _raw_value_function(output_fn: OutputFn, schema: Schema) -> Any:
    names = schema.names

    def value(X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        frame = pd.DataFrame(X, columns=names)
        for spec in schema.columns:
            if spec.kind == "numeric" and frame[spec.name].dtype == object:
                frame[spec.name] = frame[spec.name].astype(np.float64)
        return output_fn(schema.model_input(frame))

    return value
