"""The coverage table (docs/coverage.md), generated from real runs.

``cases.py`` lists one case per model x setting x output space, each naming the oracle its
values must match; ``oracles.py`` computes those oracles without explainscore's kernels
(brute force over all coalitions, the boosters' native contributions, CatBoost's
``ShapValues``); ``harness.py`` fits, explains, classifies each outcome (exact, approximate,
refused) and renders the table. ``python docs/_coverage.py --write`` regenerates the page and
``tests/test_coverage_table.py`` fails when the page and the code disagree.
"""
