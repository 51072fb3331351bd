"""explainscore's own exact TreeSHAP: a compiled ensemble format and a vectorised kernel.

* :func:`compile_ensemble` turns an XGBoost, LightGBM or scikit-learn tree model into a
  :class:`TreeEnsemble` (flat arrays) that reproduces the library's raw output.
* :func:`path_dependent_shap` / :class:`TreeShapCore` compute exact Shapley values of the
  path-dependent tree game (Lundberg et al., 2020), optionally over groups of columns.
"""

from ._compile import can_compile, compile_ensemble
from ._ensemble import TreeEnsemble
from ._shap import TreeShapCore, path_dependent_shap

__all__ = [
    "TreeEnsemble",
    "TreeShapCore",
    "can_compile",
    "compile_ensemble",
    "path_dependent_shap",
]
