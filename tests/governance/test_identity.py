"""Names compared as a person reads them (policy columns, approver identities)."""

from __future__ import annotations

import pytest

from explainscore.governance._identity import fold, same_identity, skeleton

# Each spelling reads as "ana" to a reviewer.
ANA_SPELLINGS = [
    "ana",
    "ANA",
    "Ana",
    " ana ",
    "a\u200bna",  # zero-width space
    "a\u200dna",  # zero-width joiner
    "\u202aana\u202c",  # bidi embedding marks
    "\u0430na",  # Cyrillic small a
    "an\u0430",
    "\uff41\uff4e\uff41",  # full-width
    "\U0001d41a\U0001d427\U0001d41a",  # mathematical bold
    "ana@corp.example",
    "ANA@corp",
]


@pytest.mark.parametrize("spelling", ANA_SPELLINGS)
def test_every_look_alike_of_an_identity_is_the_same_identity(spelling: str) -> None:
    assert same_identity(spelling, "ana")
    assert same_identity("ana", spelling)


@pytest.mark.parametrize("other", ["anna", "ben", "an", "ana2", "bana"])
def test_different_people_stay_different(other: str) -> None:
    assert not same_identity(other, "ana")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" Zip_Code ", "zip_code"),
        ("\uff3a\uff29\uff30", "zip"),
        ("a\u200bge", "age"),
        ("two   words", "two words"),
    ],
)
def test_fold_normalizes_width_case_invisibles_and_spaces(text: str, expected: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize("homoglyph", ["\u0430ge", "ag\u0435", "\u0391GE", "\uff21\uff27\uff25"])
def test_skeleton_maps_homoglyph_column_names_to_the_plain_name(homoglyph: str) -> None:
    assert skeleton(homoglyph) == skeleton("age") == "age"


def test_skeleton_keeps_distinct_ascii_names_distinct() -> None:
    names = ["age", "balance", "job", "marital", "education", "zip_code", "pdays", "campaign"]
    assert len({skeleton(n) for n in names}) == len(names)
