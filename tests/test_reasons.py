"""Reasons: catalog, faithful factor order and signs, budgets, hidden columns, locales, codes."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explainscore.datasets import load_bank_catalog
from explainscore.exceptions import ParameterError
from explainscore.reasons import (
    Catalog,
    ReasonConfig,
    ReasonWriter,
    ScoreBands,
    StrengthCutoffs,
    humanize,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("num__days_since_contact", "Days since contact"),
        ("cat__lead_source", "Lead source"),
        ("emp.var.rate", "Emp var rate"),
        ("pagesViewed", "Pages viewed"),
        ("GDP_growth", "GDP growth"),
    ],
)
def test_humanize(raw: str, expected: str) -> None:
    assert humanize(raw) == expected


def _writer(names, *, catalog=None, hidden=frozenset(), **config) -> ReasonWriter:
    cat = catalog or Catalog()
    if hidden:
        feats = dict(cat.features)
        for h in hidden:
            feats[h] = feats.get(h, cat.entry(h)).model_copy(update={"show": False})
        cat = Catalog(features=feats)
    return ReasonWriter(
        catalog=cat,
        config=ReasonConfig(**config),
        feature_names=names,
        output_space="log_odds",
        probability=True,
    )


NAMES = [f"feature_{j}" for j in range(8)]


@settings(max_examples=150, deadline=None)
@given(
    contributions=st.lists(
        st.one_of(st.just(0.0), st.floats(-3, 3, allow_nan=False)), min_size=8, max_size=8
    ),
    hidden=st.sets(st.sampled_from(NAMES), max_size=3),
    direction=st.sampled_from(["both", "positive", "negative"]),
    max_factors=st.integers(1, 6),
    max_length=st.integers(60, 400),
    locale=st.sampled_from(["en", "de"]),
)
def test_reasons_name_exactly_the_top_shown_factors_in_order(
    contributions, hidden, direction, max_factors, max_length, locale
) -> None:
    c = np.asarray(contributions)
    writer = _writer(
        NAMES,
        hidden=frozenset(hidden),
        direction=direction,
        max_factors=max_factors,
        max_length=max_length,
        locale=locale,
    )
    composed = writer.compose(0.5, c, [1.5] * 8)
    text, codes = composed.render(max_length)
    assert len(text) <= max_length
    # the expected principal factors: shown, non-zero, right direction, by |c|, stable
    ok = [j for j in range(8) if c[j] != 0 and NAMES[j] not in hidden]
    if direction == "positive":
        ok = [j for j in ok if c[j] > 0]
    if direction == "negative":
        ok = [j for j in ok if c[j] < 0]
    expected = sorted(ok, key=lambda j: -abs(c[j]))[:max_factors]
    assert [f.feature for f in composed.factors] == [NAMES[j] for j in expected]
    # the reason names a prefix of them (whole factors dropped to fit), in the same order
    assert [f.feature for f in codes] == [NAMES[j] for j in expected[: len(codes)]]
    position = 0
    for code in codes:
        at = text.find(code.text, position)
        assert at >= position  # the phrase appears verbatim, after the previous one
        position = at + len(code.text)
        assert code.direction == ("up" if code.contribution > 0 else "down")
        assert code.code.endswith("_UP" if code.contribution > 0 else "_DOWN")
    for h in hidden:
        assert humanize(h) not in text
        assert h not in text


def test_strength_words_follow_documented_cutoffs() -> None:
    writer = _writer(["a"], strength=StrengthCutoffs(strong=1.0, slight=0.2))
    assert "strongly raises" in writer.factor(0, 1, 1.0).text
    assert "which raises" in writer.factor(0, 1, 0.5).text
    assert "slightly lowers" in writer.factor(0, 1, -0.19).text
    # default cut-offs per output space are documented on StrengthCutoffs
    assert ReasonConfig().strength_for("probability") == StrengthCutoffs(strong=0.10, slight=0.02)


def test_bands_high_medium_low_and_grades() -> None:
    hml = ScoreBands.high_medium_low(high=0.6, medium=0.3)
    labels = ("High", "Medium", "Low")
    assert [hml.band(s, labels) for s in (0.9, 0.6, 0.45, 0.1)] == [
        "High",
        "High",
        "Medium",
        "Low",
    ]
    grades = ScoreBands.grades(a=0.5, b=0.3, c=0.1)
    assert [grades.band(s, labels) for s in (0.7, 0.35, 0.2, 0.05)] == ["A", "B", "C", "D"]
    text, _ = _writer(["x"]).compose(0.82, np.array([0.4]), [2]).render(255)
    assert text.startswith("High (0.82): ")
    with pytest.raises(ValueError, match="descending"):
        ScoreBands(thresholds=(0.2, 0.5))


def test_too_long_factor_is_reported_not_cut() -> None:
    catalog = Catalog.from_mapping({"x": {"display_name": "A very long name " * 8}})
    text, codes = _writer(["x"], catalog=catalog).compose(0.3, np.array([0.5]), [1]).render(60)
    assert codes == ()
    assert text == "Medium (0.30): factors too long to show in 60 characters."


def test_hidden_columns_summarised_as_other_factors() -> None:
    writer = _writer(["a", "secret"], hidden=frozenset({"secret"}))
    text, _ = writer.compose(0.4, np.array([0.1, -2.0]), [1, 2]).render(255)
    assert "secret" not in text.lower()
    assert text.endswith("other factors lower the score.")


def test_no_factor() -> None:
    text, codes = _writer(["a"]).compose(0.1, np.array([0.0]), [1]).render(255)
    assert text == "Low (0.10): no single factor moved the score."
    assert codes == ()


def test_codes_are_stable_and_catalog_overridable() -> None:
    cat = Catalog.from_mapping({"Days since contact": {"code": "RECENCY"}})
    w1 = _writer(["pages_viewed", "Days since contact"], catalog=cat)
    w2 = _writer(["Days since contact", "pages_viewed"], catalog=cat)
    assert w1.factor(0, 3, 0.5).code == w2.factor(1, 9, 2.0).code == "PAGES_VIEWED_UP"
    assert w1.factor(1, 3, -0.5).code == "RECENCY_DOWN"


def test_catalog_files_and_validation(tmp_path) -> None:
    data = {
        "features": {"age": {"display_name": {"en": "Age", "de": "Alter"}, "format": "integer"}}
    }
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.yaml").write_text(
        "features:\n  age:\n    display_name: {en: Age, de: Alter}\n    format: integer\n"
    )
    assert Catalog.from_file(tmp_path / "c.json") == Catalog.from_file(tmp_path / "c.yaml")
    with pytest.raises(ParameterError, match=r"features.age.format"):
        Catalog.from_mapping({"age": {"format": "roman"}})
    with pytest.raises(ParameterError, match=r"features.age.colour"):
        Catalog.from_mapping({"age": {"colour": "red"}})


def test_value_formats_en_and_de() -> None:
    cat = Catalog.from_mapping(
        {
            "balance": {"format": "currency", "display_name": "Balance"},
            "rate": {"format": "percent", "display_name": "Rate", "decimals": 1},
            "wait": {"format": "days", "display_name": "Wait"},
            "size": {"display_name": "Size"},
        }
    )
    en = _writer(["balance", "rate", "wait", "size"], catalog=cat)
    de = _writer(["balance", "rate", "wait", "size"], catalog=cat, locale="de")
    assert en.factor(0, 12345.6, 1).text.startswith("Balance is 12,346 EUR")
    assert de.factor(0, 12345.6, 1).text.startswith("Balance ist 12.346 EUR")
    assert en.factor(1, 0.153, 1).text.startswith("Rate is 15.3%")
    assert de.factor(1, 0.153, 1).text.startswith("Rate ist 15,3%")
    assert en.factor(2, 4, 1).text.startswith("Wait is 4 days")
    assert de.factor(3, 2.345, 1).text.startswith("Size ist 2,35")


def _bank_writer(locale: str) -> tuple[ReasonWriter, list[str]]:
    from explainscore.datasets import load_bank_marketing

    X, _ = load_bank_marketing()
    names = list(X.columns)
    return _writer(names, catalog=load_bank_catalog(), locale=locale), names


def test_german_and_english_name_the_same_factors_in_the_same_order() -> None:
    en, names = _bank_writer("en")
    de, _ = _bank_writer("de")
    rng = np.random.default_rng(0)
    from explainscore.datasets import load_bank_marketing

    X, _ = load_bank_marketing()
    rows = X.iloc[:200].to_numpy(dtype=object)
    for row in rows:
        c = rng.normal(size=len(names))
        a_text, a_codes = en.compose(0.3, c, list(row)).render(255)
        b_text, b_codes = de.compose(0.3, c, list(row)).render(255)
        assert [x.code for x in a_codes][: len(b_codes)] == [x.code for x in b_codes][
            : len(a_codes)
        ]
        assert "which" in a_text or not a_codes
        assert "was den Score" in b_text or not b_codes


def test_bank_catalog_reasons_have_no_column_names_or_artefacts() -> None:
    en, names = _bank_writer("en")
    from explainscore.datasets import load_bank_marketing

    X, _ = load_bank_marketing()
    rng = np.random.default_rng(1)
    raw_tokens = re.compile(r"\b(pdays|poutcome|num__|cat__|_x0_|campaign_|balance_)\b")
    for row in X.iloc[:500].to_numpy(dtype=object):
        text, _ = en.compose(0.2, rng.normal(size=len(names)), list(row)).render(255)
        assert not raw_tokens.search(text), text
        assert "__" not in text


def test_readability_of_bank_reasons() -> None:
    """Figure for the closing note: words per factor phrase and per reason."""
    en, names = _bank_writer("en")
    from explainscore.datasets import load_bank_marketing

    X, _ = load_bank_marketing()
    rng = np.random.default_rng(2)
    per_factor, per_reason = [], []
    for row in X.iloc[:1000].to_numpy(dtype=object):
        _, codes = en.compose(0.2, rng.normal(size=len(names)), list(row)).render(255)
        per_factor += [len(c.text.split()) for c in codes]
        per_reason.append(sum(len(c.text.split()) for c in codes))
    assert np.mean(per_factor) <= 15
    assert max(per_factor) <= 20


def test_prepared_templates_read_like_the_catalog_text() -> None:
    # The writer prepares each column's phrase once ({name} in, first letter capitalized):
    # a display name holding "{value}", a phrase starting with the value, a unit, a special
    # value and plain text must still read as replacing {name}, then {value}, then
    # capitalizing the phrase.
    cat = Catalog.from_mapping(
        {
            "a": {"display_name": "a {value} b", "unit": {"en": "kg", "de": "Kilo"}},
            "b": {"phrases": {"en": {"up": "{value} visits by {name}", "down": "few ({value})"}}},
            "c": {"special_values": {"-1": "never contacted"}, "display_name": "c"},
            "d": {"phrases": {"en": {"up": "", "down": "ß {value}"}}},
        }
    )
    en = _writer(["a", "b", "c", "d"], catalog=cat)
    de = _writer(["a", "b", "c", "d"], catalog=cat, locale="de")
    assert (
        en.factor(0, 1234.5, 2.0).text
        == "A 1,234 kg b is 1,234 kg, which strongly raises the score"
    )
    assert de.factor(0, 0.5, -0.1).text == "A 0,5 Kilo b ist 0,5 Kilo, was den Score leicht senkt"
    assert en.factor(1, "many", 0.5).text == "Many visits by B, which raises the score"
    assert en.factor(1, 3, -0.5).text == "Few (3), which lowers the score"
    assert en.factor(1, None, 0.5).text == "Missing visits by B, which raises the score"
    assert en.factor(2, -1, 0.5).text == "Never contacted, which raises the score"
    assert en.factor(2, -1.0, -3.0).text == "Never contacted, which strongly lowers the score"
    assert en.factor(2, 2, 0.5).text == "C is 2, which raises the score"
    assert en.factor(3, 1.0, 0.5).text == ", which raises the score"
    assert en.factor(3, 1.0, -0.5).text == "SS 1, which lowers the score"
    # Heads follow the locale and the band labels, with the score in place.
    text, _ = en.compose(0.82, np.array([0.0, 0.0, 0.0, 0.0]), [1, 1, 1, 1]).render(255)
    assert text == "High (0.82): no single factor moved the score."
    graded = _writer(["a"], bands=ScoreBands.grades())
    assert graded.compose(0.2, np.array([0.0]), [1]).render(255)[0].startswith("C (0.20): ")


def test_compose_takes_the_callers_order() -> None:
    writer = _writer(NAMES, max_factors=3)
    rng = np.random.default_rng(3)
    for _ in range(50):
        c = rng.normal(size=8)
        c[rng.random(8) < 0.3] = 0.0
        c[1] = c[2]  # ties keep column order
        order = np.argsort(-np.abs(c), kind="stable").tolist()
        mine = writer.compose(0.4, c, [1.0] * 8, order=order)
        assert mine == writer.compose(0.4, c, [1.0] * 8)


def _factor_in_steps(writer: ReasonWriter, j: int, value, contribution: float) -> str:
    """A factor's text built step by step (special words, or the template with {value}
    replaced and capitalized, then the direction around it): what ``factor`` must give."""
    from explainscore.reasons._format import format_value, special_text

    loc = writer.locale
    entry = writer.catalog.entry(writer.names[j])
    up = contribution > 0
    fact = special_text(entry, value, loc) if entry.special_values else None
    if fact is None:
        template, capitalize = writer._templates[j][up]
        fact = template.replace("{value}", format_value(entry, value, loc, today=writer.today))
        if capitalize:
            fact = fact[:1].upper() + fact[1:]
    else:
        fact = fact[:1].upper() + fact[1:]
    before, after = writer._around[up][writer._strength(contribution)]
    return before + fact + after


@pytest.mark.parametrize("locale", ["en", "de"])
def test_factor_texts_joined_in_advance_read_as_built_in_steps(locale: str) -> None:
    # ``factor`` joins the direction and the template around the value in advance where the
    # template names the value once and does not start with it; every other template takes
    # the steps. Both must give the text the steps give, for every format, value and
    # strength, and codes whose fields are the factor's.
    import datetime as dt

    cat = Catalog.from_mapping(
        {
            "plain": {},
            "unit": {"unit": {"en": "kg", "de": "Kilo"}, "decimals": 1},
            "twice": {"display_name": "a {value} b"},
            "starts": {"phrases": {"en": {"up": "{value} visits", "down": "{value}"}}},
            "braces": {"phrases": {"en": {"up": "{x} {value} {y}", "down": "no value {z}"}}},
            "special": {"special_values": {"-1": "never contacted", "0": {"en": "zero"}}},
            "labels": {"format": "category", "value_labels": {"tel": {"en": "phone"}}},
            "pct": {"format": "percent", "decimals": 1},
            "money": {"format": "currency", "currency": "USD"},
            "days": {"format": "days"},
            "int": {"format": "integer"},
            "flag": {"format": "boolean"},
            "when": {"format": "date_recency"},
            "empty": {"phrases": {"en": {"up": "", "down": "{value}{value}"}}},
        }
    )
    names = list(cat.features)
    writer = ReasonWriter(
        catalog=cat,
        config=ReasonConfig(locale=locale),
        feature_names=names,
        output_space="log_odds",
        probability=True,
        today=dt.date(2026, 1, 31),
    )
    values = [
        0.0, -1, -1.0, 0, 3, 1234.5678, 0.000123, -2.5e7, float("nan"), None, True, False,
        "tel", "email", "", "2026-01-01", dt.date(2026, 1, 30),
    ]  # fmt: skip
    contributions = [-3.0, -1.0, -0.5, -0.2, -0.01, 0.0, 0.01, 0.2, 0.5, 1.0, 3.0]
    joined = 0
    for j, name in enumerate(names):
        for value in values:
            for c in contributions:
                try:
                    expected = _factor_in_steps(writer, j, value, c)
                except (TypeError, ValueError):
                    with pytest.raises((TypeError, ValueError)):
                        writer.factor(j, value, c)
                    continue
                code = writer.factor(j, value, c)
                assert code.text == expected, (name, value, c)
                assert (code.feature, code.direction, code.contribution) == (
                    name, "up" if c > 0 else "down", c,
                )  # fmt: skip
                assert code.code == writer._codes[j][c > 0]
                joined += writer._pieces[j][c > 0] is not None
    assert joined > 0  # the joined-in-advance form served some of them
    assert writer._pieces[names.index("twice")] == (None, None)
    if locale == "en":  # the catalog's English phrases start with the value
        assert writer._pieces[names.index("starts")] == (None, None)


def test_reason_codes_built_without_validation_are_the_validated_ones() -> None:
    import copy
    import pickle

    from explainscore._records import ReasonCode

    # ``_trusted`` sets what ``model_construct`` does for a model with no post-init, private
    # attributes, aliases or extra fields: if one is added, it must change too.
    assert ReasonCode.__pydantic_post_init__ is None
    assert not ReasonCode.__private_attributes__
    assert ReasonCode.model_config.get("extra") in (None, "ignore", "forbid")
    assert all(f.alias is None for f in ReasonCode.model_fields.values())
    fast = ReasonCode._trusted("A_UP", "a", True, 0.25, "A is 1, which raises the score")
    slow = ReasonCode.model_validate(
        {"code": "A_UP", "feature": "a", "direction": "up", "contribution": 0.25,
         "text": "A is 1, which raises the score"}
    )  # fmt: skip
    built = ReasonCode.model_construct(**slow.model_dump())
    for other in (slow, built):
        assert fast == other
        assert hash(fast) == hash(other)
        assert list(fast.__dict__.items()) == list(other.__dict__.items())
        assert fast.model_fields_set == other.model_fields_set
        assert fast.__pydantic_extra__ == other.__pydantic_extra__
        assert fast.__pydantic_private__ == other.__pydantic_private__
        assert fast.model_dump_json() == other.model_dump_json()
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert copy.deepcopy(fast) == slow
    assert fast.model_copy(update={"text": "x"}).text == "x"
    with pytest.raises(Exception, match="frozen"):
        fast.text = "changed"  # type: ignore[misc]
    assert ReasonCode._trusted("B_DOWN", "b", False, -1.0, "t").direction == "down"
