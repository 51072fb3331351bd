"""Policy names hold under every spelling, and hidden or blocked columns never leak.

Attacks that once worked: ``hidden=["ZIP_CODE"]`` left ``zip_code`` named in every reason
(names matched case-sensitively); a blocked ``age`` passed as ``" age"``, ``"age "``,
full-width ``AGE``, with a Cyrillic "a", or in a model fitted on a NumPy array (no column names
to check); errors and rejected rows named hidden columns; an extra blocked column reached
``predict`` and was named in its error.

Each test searches the string forms of every output (reasons, reason codes, records, to_frame,
to_crm, reprs, errors and their attributes, rejected rows, audit records) for the hidden or
blocked names and for a marker value of those columns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier

from explainscore import ExplainedModel, Policy
from explainscore.exceptions import (
    ColumnTypeError,
    InputError,
    MissingColumnError,
    NonFiniteValueError,
    ParameterError,
    PolicyViolationError,
    UnexpectedColumnError,
)
from explainscore.governance import AuditLog

HIDDEN = "a hidden column"
CYR_A = "\u0430"  # CYRILLIC SMALL LETTER A
CYR_O = "\u043e"  # CYRILLIC SMALL LETTER O
CYR_I = "\u0456"  # CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I
ZWSP = "\u200b"  # ZERO WIDTH SPACE


def _wide(text: str) -> str:
    """``text`` in full-width forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


#: How the policy spells the hidden columns ``zip_code`` (text) and ``visits`` (numbers).
HIDDEN_SPELLINGS = {
    "exact": ("zip_code", "visits"),
    "upper": ("ZIP_CODE", "VISITS"),
    "padded": ("  zip_code ", " visits\t"),
    "full-width": (_wide("zip_code"), _wide("VISITS")),
    "homoglyph": (f"zip_c{CYR_O}de", f"v{CYR_I}sits"),
    "zero-width": (f"zip{ZWSP}_code", f"vis{ZWSP}its"),
}
#: Spellings of a column named like the blocked entry ``age``.
AGE_SPELLINGS = {
    "leading-space": " age",
    "trailing-space": "age ",
    "upper": "AGE",
    "full-width": _wide("AGE"),
    "cyrillic-a": f"{CYR_A}ge",
    "zero-width": f"a{ZWSP}ge",
}
#: Marker values: the hidden text column's categories, the hidden numeric column's values and
#: the blocked column's values have forms no other output can produce.
ZIP_VALUES = ["ZQXA", "ZQXB", "ZQXC"]
FORBIDDEN_TEXT = re.compile(r"zip|visit|zqx|77\d\d\.125|42\d\d\.5", re.IGNORECASE)
#: Any spelling of the hidden names, as it could be written (before or after folding).
FORBIDDEN_NAMES = [s for pair in HIDDEN_SPELLINGS.values() for s in pair]


def _leaks(text: str) -> list[str]:
    found = [m.group(0) for m in FORBIDDEN_TEXT.finditer(text)]
    return found + [n for n in FORBIDDEN_NAMES if n.strip() and n.strip() in text]


def _assert_clean(*texts: Any) -> None:
    for t in texts:
        text = t if isinstance(t, str) else repr(t)
        assert not _leaks(text), (_leaks(text), text[:300])


def _data(n: int = 400, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n).round(1),
            "tenure": rng.integers(0, 20, n).astype(float),
            "visits": 7700 + rng.integers(0, 99, n) + 0.125,
            "zip_code": rng.choice(ZIP_VALUES, n),
        }
    )
    signal = (
        (X["income"] - 50) / 10
        + (X["visits"] - 7750) / 30
        + (X["zip_code"] == "ZQXA") * 1.5
        - X["tenure"] / 10
    )
    y = (signal + rng.normal(size=n) > 0).astype(int).to_numpy()
    return X, y


def _pipeline() -> Any:
    return make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["zip_code"]), remainder="passthrough"
        ),
        XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1),
    )


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    return _data()


@pytest.fixture(scope="module")
def prefit(data: tuple[pd.DataFrame, np.ndarray[Any, Any]]) -> Any:
    X, y = data
    return _pipeline().fit(X, y)


def _em(prefit: Any, X: pd.DataFrame, spelling: str, **params: Any) -> ExplainedModel:
    zip_name, visits_name = HIDDEN_SPELLINGS[spelling]
    policy = Policy(version="p1", hidden=(zip_name, visits_name))
    return ExplainedModel(prefit, background=X.iloc[:150], policy=policy, top_k=3, **params)


# --- hidden: every spelling, every output ------------------------------------------------------


@pytest.mark.parametrize("spelling", sorted(HIDDEN_SPELLINGS))
def test_hidden_spellings_resolve_to_the_model_columns(
    prefit: Any, data: tuple[pd.DataFrame, Any], spelling: str
) -> None:
    X, _ = data
    em = _em(prefit, X, spelling)
    assert em._hidden_columns() == frozenset({"zip_code", "visits"})
    assert em.policy is not None
    assert em.policy.is_hidden("zip_code")
    assert em.policy.is_hidden("VISITS")
    assert not em.policy.is_hidden("income")


@pytest.mark.parametrize("spelling", sorted(HIDDEN_SPELLINGS))
def test_hidden_never_in_reasons_codes_records_frames_or_crm(
    prefit: Any, data: tuple[pd.DataFrame, Any], spelling: str
) -> None:
    X, _ = data
    em = _em(prefit, X, spelling)
    batch = em.explain(X.iloc[:80])
    assert batch.hidden == frozenset({"zip_code", "visits"})
    records = list(batch)
    _assert_clean(
        "\n".join(batch.reasons),
        [c.model_dump_json() for codes in batch.reason_codes for c in codes],
        [r.model_dump_json() for r in records],
        [repr(r) for r in records],
        repr(batch),
        batch.to_frame().to_csv(),
        list(batch.to_frame().columns),
        *(batch.to_crm(preset).to_csv() for preset in ("salesforce", "dynamics", "hubspot")),
    )
    # The hidden columns still count: records add up, their share in other_contribution.
    rec = records[0]
    total = rec.base_value + sum(a.contribution for a in rec.attributions)
    assert total + rec.other_contribution == pytest.approx(rec.output, abs=1e-5)


@pytest.mark.parametrize("spelling", sorted(HIDDEN_SPELLINGS))
def test_hidden_never_in_the_fast_lane_record(
    prefit: Any, data: tuple[pd.DataFrame, Any], spelling: str
) -> None:
    X, _ = data
    em = _em(prefit, X, spelling)
    row = X.iloc[0].to_dict()
    fast = em._explain_fast(row, top_k=3)
    assert fast is not None  # the compiled lane serves this model
    _assert_clean(fast.model_dump_json(), repr(fast), em.explain_one(row).model_dump_json())


@pytest.mark.parametrize("spelling", sorted(HIDDEN_SPELLINGS))
def test_hidden_never_in_rejected_rows(
    prefit: Any, data: tuple[pd.DataFrame, Any], spelling: str
) -> None:
    X, _ = data
    em = _em(prefit, X, spelling)
    bad = X.iloc[:6].copy().astype({"zip_code": object, "visits": object})
    bad.iloc[1, bad.columns.get_loc("zip_code")] = 4242.5  # a number where text belongs
    bad.iloc[3, bad.columns.get_loc("visits")] = np.inf
    bad.iloc[4, bad.columns.get_loc("visits")] = "ZQXA 4242.5"  # text where a number belongs
    batch = em.explain(bad, on_error="skip")
    assert [r.row for r in batch.rejected] == [1, 3, 4]
    assert {r.column for r in batch.rejected} == {HIDDEN}
    assert all(r.problem.startswith(HIDDEN) for r in batch.rejected)
    _assert_clean(
        [r.model_dump_json() for r in batch.rejected],
        batch.rejected_frame().to_csv(),
        repr(batch),
        batch.to_frame().to_csv(),
    )


def _errors(em: ExplainedModel, X: pd.DataFrame) -> list[tuple[type[Exception], Any]]:
    """Inputs that each raise a column error about a hidden column."""
    all_text = X.iloc[:4].copy().astype({"visits": object})
    all_text["visits"] = "ZQXA"
    all_numbers = X.iloc[:4].copy().astype({"zip_code": object})
    all_numbers["zip_code"] = 4242.5
    one_inf = X.iloc[:4].copy()
    one_inf.iloc[0, one_inf.columns.get_loc("visits")] = np.inf
    renamed = X.iloc[:3].rename(columns={"visits": "Visits"})
    return [
        (MissingColumnError, X.iloc[:3].drop(columns=["zip_code"])),
        (MissingColumnError, X.iloc[:3].drop(columns=["zip_code", "visits"])),
        (MissingColumnError, renamed),  # "visits" is missing (checked before extras)
        (UnexpectedColumnError, X.iloc[:3].assign(Visits=7777.125)),
        (UnexpectedColumnError, X.iloc[:3].assign(**{" ZIP_CODE": "ZQXA"})),
        (ColumnTypeError, all_text),
        (ColumnTypeError, all_numbers),
        (NonFiniteValueError, one_inf),
        (InputError, X.iloc[:2, :3].to_numpy()),  # too few columns: the model's are listed
    ]


@pytest.mark.parametrize("spelling", sorted(HIDDEN_SPELLINGS))
@pytest.mark.parametrize("door", ["explain", "explain_one", "predict", "predict_proba"])
def test_errors_about_hidden_columns_say_a_hidden_column(
    prefit: Any, data: tuple[pd.DataFrame, Any], spelling: str, door: str
) -> None:
    X, _ = data
    em = _em(prefit, X, spelling)
    for kind, rows in _errors(em, X):
        if door == "explain_one":
            rows = rows[:1] if isinstance(rows, pd.DataFrame) else rows[0]
        with pytest.raises(kind) as info:
            getattr(em, door)(rows)
        err = info.value
        text = str(err)
        _assert_clean(text, repr(err), repr(err.args))
        assert "hidden column" in text.lower(), (kind, text)
        for attr in ("column", "columns"):
            value = getattr(err, attr, None)
            if value is not None:
                _assert_clean(value)
                assert HIDDEN in (value if isinstance(value, list) else [value])


@pytest.mark.parametrize("spelling", ["exact", "upper", "homoglyph"])
def test_audit_records_hold_no_hidden_inputs(
    prefit: Any, data: tuple[pd.DataFrame, Any], spelling: str, tmp_path: Path
) -> None:
    X, _ = data
    log = AuditLog(tmp_path / "audit.db", pseudonym_key=b"k" * 40, store_inputs=True)
    em = _em(prefit, X, spelling, audit_log=log)
    em.explain(X.iloc[:5], actor="rep@acme", lead_ids=list(range(5)))
    records = list(log.records())
    assert len(records) >= 5
    dumped = json.dumps(records, default=str)
    assert "income" in dumped  # inputs are stored: the hidden ones are dropped from them
    _assert_clean(dumped)


def test_catalog_hidden_column_is_never_named_either(
    prefit: Any, data: tuple[pd.DataFrame, Any]
) -> None:
    X, _ = data
    em = ExplainedModel(
        prefit,
        background=X.iloc[:150],
        catalog={"zip_code": {"show": False}, "visits": {"show": False}},
    )
    batch = em.explain(X.iloc[:20])
    _assert_clean("\n".join(batch.reasons), batch.to_frame().to_csv(), repr(batch))
    with pytest.raises(MissingColumnError) as info:
        em.explain(X.iloc[:2].drop(columns=["visits"]))
    assert info.value.columns == [HIDDEN]
    _assert_clean(str(info.value))


# --- blocked: every spelling, every door --------------------------------------------------------


def _blocked_data(name: str) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    X, y = _data(200)
    X = X.drop(columns=["zip_code"])
    X.insert(1, name, 4242.5 + np.arange(len(X)) % 3)
    return X, y


def _assert_blocked(err: PolicyViolationError, name: str) -> None:
    text = str(err)
    assert err.entry == 1
    assert "blocked entry 1" in text
    assert not re.search(r"\bage\b", text.lower()), text
    assert name not in text
    assert name.strip() not in text
    assert not re.search(r"42\d\d\.5", text + repr(err.args))


@pytest.mark.parametrize("spelling", sorted(AGE_SPELLINGS))
@pytest.mark.parametrize("entry", ["age", "AGE", " Age "])
def test_blocked_spellings_refused_at_fit(spelling: str, entry: str) -> None:
    name = AGE_SPELLINGS[spelling]
    X, y = _blocked_data(name)
    em = ExplainedModel(LogisticRegression(max_iter=300), policy=Policy(blocked=(entry,)))
    with pytest.raises(PolicyViolationError) as info:
        em.fit(X, y)
    _assert_blocked(info.value, name)
    assert not hasattr(em, "model_")


@pytest.mark.parametrize("spelling", sorted(AGE_SPELLINGS))
def test_blocked_spellings_refused_when_wrapping_a_prefit_model(spelling: str) -> None:
    name = AGE_SPELLINGS[spelling]
    X, y = _blocked_data(name)
    prefit = LogisticRegression(max_iter=300).fit(X, y)
    em = ExplainedModel(prefit, background=X, policy=Policy(blocked=("age",)))
    with pytest.raises(PolicyViolationError) as info:
        em.explain(X.iloc[:2])
    _assert_blocked(info.value, name)


@pytest.mark.parametrize("spelling", sorted(AGE_SPELLINGS))
def test_blocked_spellings_refused_through_a_column_transformer(spelling: str) -> None:
    name = AGE_SPELLINGS[spelling]
    X, y = _blocked_data(name)
    X["band"] = np.where(X["income"] > 50, "hi", "lo")
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), [name, "income"]),
            ("cat", OneHotEncoder(), ["band"]),
        ],
        remainder="drop",
    )
    prefit = make_pipeline(pre, LogisticRegression(max_iter=300)).fit(X, y)
    # The raw column is named "band" etc.; only the transformed name "num__<age>" shows it.
    with pytest.raises(PolicyViolationError) as info:
        ExplainedModel(prefit, background=X, policy=Policy(blocked=("age",))).explain(X[:2])
    _assert_blocked(info.value, name)


@pytest.mark.parametrize("spelling", sorted(AGE_SPELLINGS))
@pytest.mark.parametrize(
    "door", ["explain", "explain_one", "predict", "predict_proba", "decision_function"]
)
def test_extra_blocked_column_refused_at_every_door_without_its_name_or_value(
    spelling: str, door: str
) -> None:
    name = AGE_SPELLINGS[spelling]
    X, y = _data(200)
    X = X.drop(columns=["zip_code"])
    em = ExplainedModel(LogisticRegression(max_iter=300), policy=Policy(blocked=("age",)))
    em.fit(X, y)
    extra = X.iloc[:2].assign(**{name: 4242.5})
    inputs: list[Any] = [extra, extra.to_dict("records")]
    if door == "explain_one":
        inputs = [extra.iloc[[0]], extra.iloc[0], extra.iloc[0].to_dict()]
    for rows in inputs:
        with pytest.raises(PolicyViolationError) as info:
            getattr(em, door)(rows)
        _assert_blocked(info.value, name)


def test_blocked_entry_inside_transformed_names_as_before() -> None:
    policy = Policy(blocked=("age",))
    for name in ["num__age", "cat__age_40-49", f"num__ {CYR_A}ge", "cat__AGE_40-49", _wide("AGE")]:
        assert policy.is_blocked(name), name
    for name in ["num__stage", "page_views", "usage", "cat__agency_x", "agent"]:
        assert not policy.is_blocked(name), name


# --- a model without column names, under a policy, is refused (fail closed) ----------------------


@pytest.mark.parametrize(
    "policy",
    [Policy(blocked=("age",)), Policy(hidden=("zip_code",))],
    ids=["blocked", "hidden"],
)
def test_numpy_model_under_a_policy_is_refused_until_its_columns_are_named(
    policy: Policy,
) -> None:
    X, y = _data(200)
    X = X.drop(columns=["zip_code"])
    arr = X.to_numpy()
    prefit = LogisticRegression(max_iter=300).fit(arr, y)
    for em in (
        ExplainedModel(prefit, background=arr, policy=policy),
        ExplainedModel(prefit, background=pd.DataFrame(arr), policy=policy),  # 0, 1, ...
    ):
        with pytest.raises(PolicyViolationError, match="have no names") as info:
            em.explain(arr[:2])
        assert "DataFrame" in str(info.value)
        assert info.value.policy_version == policy.version
    fitting = ExplainedModel(LogisticRegression(max_iter=300), policy=policy)
    with pytest.raises(PolicyViolationError, match="fit the model on a pandas DataFrame"):
        fitting.fit(arr, y)
    assert not hasattr(fitting, "model_")  # refused before fitting
    # Named by a background DataFrame: the policy applies to those names.
    named = ExplainedModel(prefit, background=X, policy=policy)
    assert named.explain(arr[:2]).status == "ok"
    # Without a policy (or an empty one) an unnamed model runs as before.
    assert ExplainedModel(prefit, background=arr).explain(arr[:2]).status == "ok"
    assert ExplainedModel(prefit, background=arr, policy=Policy()).explain(arr[:1]).status == "ok"


def test_lightgbm_numpy_model_under_a_policy_is_refused() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    X, y = _data(200)
    arr = X.drop(columns=["zip_code"]).to_numpy()
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(arr, y)  # Column_0, ...
    with pytest.raises(PolicyViolationError, match="have no names"):
        ExplainedModel(model, background=arr, policy=Policy(blocked=("age",))).explain(arr[:1])


# --- policy files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "content"),
    [
        (".json", b'{"blocked": ["age", ZQXA-4242'),
        (".json", b"\xff\xfeZQXA-4242"),
        (".json", b'["ZQXA-4242"]'),
        (".json", b'{"blocked": ["ZQXA-4242"], "hidden": [" "]}'),
        (".yaml", b"blocked: [ZQXA-4242\nhidden: {"),
    ],
)
def test_corrupt_policy_files_give_a_typed_error_without_their_text(
    tmp_path: Path, suffix: str, content: bytes
) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / f"policy{suffix}"
    path.write_bytes(content)
    with pytest.raises(ParameterError) as info:
        Policy.from_file(path)
    assert "ZQXA" not in str(info.value)
    assert "4242" not in str(info.value)
    # Nothing chained either: a traceback would print the parser's error, quoting the text.
    err = info.value
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__
