"""Run every case, classify its outcome and render the coverage table.

Outcomes:

* **exact**: ``explain`` says ``exact=True``, its values and base values equal the case's
  oracle to 1e-6 (1e-5 for float32 models), and base + sum equals the model's own output in
  the explained space;
* **approximate**: ``exact=False`` (sampling, LIME); the measured largest error against the
  oracle and the largest reported standard error are shown, and efficiency must still hold;
* **refused**: a typed explainscore error other than ``ExplanationError``; its type, the
  first sentence of its message and the sentence naming the way forward are shown.

Anything else is a **failure**: an untyped exception, ``ExplanationError`` ("This is a bug in
explainscore"), an explanation that claims ``exact=True`` and does not match its oracle, or
one whose values do not add up to the model's output.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass

import numpy as np

from explainscore import ExplainedModel
from explainscore.exceptions import ExplainScoreError, ExplanationError, FallbackWarning

from .cases import Case, all_cases

#: The generated blocks of docs/coverage.md, each between its two markers.
BLOCKS = ("counts", "table")
HEADER = "| model | setting | output space | method | result | oracle, or the message |"
RULE = "|---|---|---|---|---|---|"


@dataclass(frozen=True)
class Result:
    case: Case
    status: str  # "exact" | "approximate" | "refused" | "FAILED"
    space: str
    method: str
    detail: str
    seconds: float


_WAY_FORWARD = ("use ", "Use ", "Refit", "Fill", "Give", "Pass ", "pass ")


def sentences(message: str) -> list[str]:
    """The message's sentences (a full stop inside a quoted name does not end one)."""
    text = " ".join(message.split())
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(`'\"])", text) if s]


def summary(message: str) -> str:
    """The first sentence of a refusal, and the sentence naming the way forward when that is
    a later one."""
    parts = sentences(message)
    if not parts:
        return ""
    forward = next((s for s in parts if any(w in s for w in _WAY_FORWARD)), None)
    if forward is None or forward == parts[0]:
        return parts[0]
    return f"{parts[0]} {forward}"


def _error(a: np.ndarray, b: np.ndarray) -> float:
    diff = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return float(diff.max()) if diff.size else 0.0


def run_case(case: Case) -> Result:
    """Fit, explain and classify one case. Never raises: a failure is a ``FAILED`` result."""
    start = time.perf_counter()
    asked = "default" if case.space == "auto" else case.space

    def result(status: str, space: str, method: str, detail: str) -> Result:
        return Result(case, status, space, method, detail, time.perf_counter() - start)

    try:
        fit = case.build()
    except Exception as exc:  # the case itself is broken: shown, never hidden
        return result("FAILED", asked, "—", f"building the case failed: {exc!r}")
    fallback = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            em = ExplainedModel(
                fit.model,
                background=fit.background.iloc[: case.n_background],
                n_background=case.n_background,
                output_space=case.space,
                **case.kwargs,
            )
            batch = em.explain(fit.rows)
        fallback = any(issubclass(w.category, FallbackWarning) for w in caught)
    except ExplanationError as exc:
        return result("FAILED", asked, "—", f"ExplanationError (the 'bug' message): {exc}")
    except ExplainScoreError as exc:
        return result("refused", asked, "—", f"`{type(exc).__name__}`: {summary(str(exc))}")
    except Exception as exc:
        return result("FAILED", asked, "—", f"untyped {type(exc).__name__}: {exc}")

    space = str(batch.output_space) + (" (default)" if case.space == "auto" else "")
    method = str(batch.explainer) + (" (fallback)" if fallback else "")
    tol = 1e-5 if case.float32 else 1e-6
    try:
        own = case.output(fit.model, fit.rows)
        assert case.oracle.fn is not None
        phi, base = case.oracle.fn(fit, em.background_)
    except Exception as exc:
        return result("FAILED", space, method, f"the oracle failed: {exc!r}")
    scale = max(1.0, float(np.abs(own).max()))
    total = batch.base_values + batch.attributions.sum(axis=1)
    efficiency = max(_error(total, own), _error(batch.outputs, own)) / scale
    error = max(_error(batch.attributions, phi), _error(batch.base_values, base)) / scale
    if efficiency > tol:
        return result(
            "FAILED",
            space,
            method,
            f"base + sum differs from the model's output by {efficiency:.1e}",
        )
    if batch.exact:
        if error > tol:
            return result(
                "FAILED", space, method,
                f"claims exact but differs from {case.oracle.name} by {error:.1e}",
            )  # fmt: skip
        return result("exact", space, method, case.oracle.name)
    se = batch.std_errors
    spread = "" if se is None else f"; standard errors <= {float(np.max(se)):.0e}"
    return result(
        "approximate", space, method, f"max error {error:.0e} against {case.oracle.name}{spread}"
    )


def run_all(cases: list[Case] | None = None) -> list[Result]:
    return [run_case(c) for c in (all_cases() if cases is None else cases)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markers(block: str) -> tuple[str, str]:
    return (
        f"<!-- coverage:{block} (generated by `python docs/_coverage.py --write`) -->",
        f"<!-- /coverage:{block} -->",
    )


def render(results: list[Result]) -> dict[str, str]:
    """The generated blocks of docs/coverage.md: the counts, and one table per library."""
    counts = {s: sum(r.status == s for r in results) for s in ("exact", "approximate", "refused")}
    failed = sum(r.status == "FAILED" for r in results)
    libraries = list(dict.fromkeys(r.case.library for r in results))
    head = [
        f"**{len(results)} cases: {counts['exact']} exact, {counts['approximate']} approximate, "
        f"{counts['refused']} refused"
        + (f", {failed} FAILING (bugs: see the rows marked FAILED)" if failed else "")
        + ".**",
        "",
        "Jump to: " + " · ".join(f"[{lib}](#{_anchor(lib)})" for lib in libraries),
    ]
    table: list[str] = []
    for lib in libraries:
        rows = sorted((r for r in results if r.case.library == lib), key=lambda r: r.case.model)
        table += ["", f"## {lib}", "", HEADER, RULE]
        for r in rows:
            status = {"FAILED": "**FAILED**", "refused": "refused"}.get(r.status, f"**{r.status}**")
            cells = [f"`{r.case.model}`" if " " not in r.case.model else r.case.model,
                     r.case.setting, r.space, r.method, status, r.detail]  # fmt: skip
            table.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return {"counts": "\n".join(head), "table": "\n".join(table[1:])}


def _anchor(title: str) -> str:
    """The anchor mkdocs' toc extension gives a heading."""
    slug = re.sub(r"[^\w\s-]", "", title.lower()).strip()
    return re.sub(r"[\s-]+", "-", slug)


def generated(page: str) -> dict[str, str]:
    """The page's generated blocks, without their markers ('' for a missing block)."""
    out = {}
    for block in BLOCKS:
        begin, end = _markers(block)
        i, j = page.find(begin), page.find(end)
        out[block] = page[i + len(begin) : j].strip("\n") if 0 <= i < j else ""
    return out


def splice(page: str, blocks: dict[str, str]) -> str:
    """The page with each generated block replaced (appended when its markers are missing)."""
    for block, text in blocks.items():
        begin, end = _markers(block)
        i, j = page.find(begin), page.find(end)
        fresh = f"{begin}\n\n{text}\n\n{end}"
        if 0 <= i < j:
            page = page[:i] + fresh + page[j + len(end) :]
        else:
            page = page.rstrip("\n") + "\n\n" + fresh + "\n"
    return page


def describe_failures(results: list[Result]) -> list[str]:
    return [
        f"{r.case.library} / {r.case.model} / {r.case.setting} / {r.space}: {r.detail}"
        for r in results
        if r.status == "FAILED"
    ]
