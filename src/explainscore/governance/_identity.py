"""Comparing names the way a person reads them: policy column names and approver identities.

Two strings that *look* the same must compare the same, or a policy entry ``age`` lets a
column ``age`` spelt with a Cyrillic U+0430 through and owner ``ana`` approves her own model as
``Ana``. Three steps, each closing one family of look-alikes:

1. :func:`fold` — Unicode NFKC (full-width and compatibility forms become plain letters),
   case folding, removal of invisible format characters (zero-width spaces and joiners, bidi
   marks: Unicode category ``Cf``) and of surrounding / repeated white space.
2. :func:`skeleton` — the folded string with every character replaced by a representative of
   its confusable set (Unicode's confusables data, as shipped by ``confusable-homoglyphs``),
   an ASCII character where the set has one: Cyrillic U+0430, Greek U+03BF and
   mathematical bold U+1D41A all become Latin letters. This is the idea of UTS #39's
   skeleton, restricted to single-character confusables.
3. :func:`same_identity` — also compares the local part of an e-mail address, so ``ana@corp``
   is the owner ``ana``.

The confusables table (about 9,600 entries) is built on first use and cached.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from importlib import resources

__all__ = ["fold", "same_identity", "skeleton"]


@functools.lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """NFKC, case folding, no format characters, white space trimmed and collapsed."""
    normal = unicodedata.normalize("NFKC", text)
    visible = "".join(ch for ch in normal if unicodedata.category(ch) != "Cf")
    return " ".join(visible.casefold().split())


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    """Each confusable character -> its set's representative (ASCII when the set has one)."""
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    parent: dict[str, str] = {}

    def find(ch: str) -> str:
        root = ch
        while parent.get(root, root) != root:
            root = parent[root]
        parent[ch] = root
        return root

    def better(a: str, b: str) -> str:
        # ASCII first, then the shorter and smaller code point: a stable choice.
        return min(a, b, key=lambda c: (not c.isascii(), len(c), c))

    for key, homoglyphs in data.items():
        for entry in homoglyphs:
            a, b = find(key), find(entry["c"])
            if a != b:
                keep = better(a, b)
                parent[a] = parent[b] = keep
    return {ch: find(ch) for ch in parent if len(ch) == 1 and find(ch) != ch}


@functools.lru_cache(maxsize=4096)
def skeleton(text: str) -> str:
    """The folded text with look-alike characters mapped to one representative each."""
    table = _table()
    mapped = "".join(table.get(ch, ch) for ch in fold(text))
    # Mapping may produce characters that fold further (a capital representative).
    return fold(mapped)


def same_identity(a: str, b: str) -> bool:
    """Whether two identities name the same person, as far as their spelling can tell.

    Equal skeletons, or equal skeletons of the parts before an ``@``.
    """
    sa, sb = skeleton(a), skeleton(b)
    if sa == sb:
        return True
    return sa.split("@", 1)[0].strip() == sb.split("@", 1)[0].strip()
