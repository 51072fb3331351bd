"""explainscore's own exact TreeSHAP: a compiled ensemble format and a vectorised kernel.

* :func:`compile_ensemble` turns an XGBoost, LightGBM or scikit-learn tree model into a
  :class:`TreeEnsemble` (flat arrays) that reproduces the library's raw output.
* :func:`path_dependent_shap` / :class:`TreeShapCore` compute exact Shapley values of the
  path-dependent tree game (Lundberg et al., 2020), optionally over groups of columns.
* :class:`InterventionalTreeCore` computes exact interventional values against background
  rows: the Shapley values of the margin game averaged over the rows, or shap's rescaled
  per-row values in probability space (which add up to the probability).
"""

import typing as _typing

from ..._lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from ._compile import can_compile, compile_ensemble
    from ._ensemble import TreeEnsemble
    from ._interventional import InterventionalTreeCore, interventional_shap
    from ._shap import TreeShapCore, path_dependent_shap

# Imported when first read: a saved model's compiled form (``explainscore._compiled``) needs
# the ensemble and the path-dependent core, not the converters or the interventional core.
_EXPORTS = {
    "InterventionalTreeCore": "._interventional",
    "TreeEnsemble": "._ensemble",
    "TreeShapCore": "._shap",
    "can_compile": "._compile",
    "compile_ensemble": "._compile",
    "interventional_shap": "._interventional",
    "path_dependent_shap": "._shap",
}

__all__ = [
    "InterventionalTreeCore",
    "TreeEnsemble",
    "TreeShapCore",
    "can_compile",
    "compile_ensemble",
    "interventional_shap",
    "path_dependent_shap",
]

__getattr__, __dir__ = _attach(__name__, globals(), _EXPORTS)
