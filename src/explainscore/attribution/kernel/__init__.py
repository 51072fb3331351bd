"""The model-agnostic backend's parts: the interventional game and its estimators.

``_game.py`` builds hybrid rows and calls the model; ``_estimator.py`` is the interface every
estimator follows; ``_exact.py`` and ``_permutation.py`` are the estimators;
``_background.py`` summarises the background. ``attribution/_kernel.py`` is the adapter that
reads the method options and picks the estimator.
"""
