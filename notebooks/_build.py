"""Writes the notebooks from their cell sources (outputs stripped); run after editing.

Keeping the sources here makes notebook diffs readable; `tests/test_notebooks.py` executes
every notebook top to bottom.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).parent

QUICKSTART = [
    (
        "md",
        "# explainscore quick start\n\nWrap a lead-scoring pipeline, explain leads, read the "
        "reasons, export CRM fields. Data: UCI Bank Marketing (CC BY 4.0, Moro et al. 2014).",
    ),
    (
        "code",
        "from explainscore import ExplainedModel\n"
        "from explainscore._demo import build_pipeline\n"
        "from explainscore.datasets import load_bank_catalog, load_bank_marketing\n"
        "from sklearn.model_selection import train_test_split\n\n"
        "X, y = load_bank_marketing()\n"
        "# Stratified: the file is sorted by date, so its first rows are one season and channel.\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, "
        "random_state=0, stratify=y)\n"
        "X_train.shape, float(y.mean()), float(y_train.mean()), float(y_test.mean())",
    ),
    (
        "md",
        "An XGBoost pipeline (one-hot for text columns), wrapped. Reasons use the bundled "
        "catalog; the score bands are derived from the training scores (the 11.7 % base "
        "rate). The held-out ROC AUC says whether the model is worth explaining.",
    ),
    (
        "code",
        "em = ExplainedModel(build_pipeline(X_train, n_estimators=200), top_k=3,\n"
        "                    catalog=load_bank_catalog())\n"
        "em.fit(X_train, y_train)\n"
        "from sklearn.metrics import roc_auc_score\n"
        "print(f'held-out ROC AUC {roc_auc_score(y_test, em.predict_proba(X_test)[:, 1]):.3f}')\n"
        "print(em.score_bands_.describe())\n"
        "em",
    ),
    (
        "code",
        "one = em.explain_one(X_test.iloc[0])\n"
        "print(one.reason)\n"
        "[(a.feature, a.value, round(a.contribution, 3)) for a in one.attributions]",
    ),
    ("md", "Exactness: base value + all contributions = the model's log-odds."),
    (
        "code",
        "batch = em.explain(X_test.iloc[:2000])\n"
        "import numpy as np\n"
        "err = np.abs(batch.base_values + batch.attributions.sum(1) - batch.outputs).max()\n"
        "assert err < 1e-5\n"
        "err",
    ),
    ("code", "batch.to_crm('salesforce').head()"),
    ("code", "fig = one.plot()"),
]

GOVERNANCE = [
    ("md", "# Governance: policy, sign-off, audit log, fairness of rejected leads"),
    (
        "code",
        "import tempfile, pathlib\n"
        "import explainscore\n"
        "from explainscore import AuditLog, ExplainedModel, Keyring, ModelCard, Policy, fairness_audit, generate_key, sign_off\n"
        "from explainscore._demo import build_pipeline\n"
        "from explainscore.datasets import load_bank_catalog, load_bank_marketing\n"
        "from explainscore.exceptions import PolicyViolationError\n"
        "from sklearn.model_selection import train_test_split\n"
        "X, y = load_bank_marketing()\n"
        "# A stratified quarter of the leads keeps the notebook quick (the file is sorted by date).\n"
        "X, _, y, _ = train_test_split(X, y, train_size=0.25, stratify=y, random_state=0)\n"
        "work = pathlib.Path(tempfile.mkdtemp())",
    ),
    (
        "md",
        "A policy that blocks `age` refuses the model outright (fail closed), without "
        "naming the feature in the message.",
    ),
    (
        "code",
        "try:\n"
        "    ExplainedModel(build_pipeline(X, n_estimators=50), policy=Policy(blocked=['age'])).fit(X, y)\n"
        "except PolicyViolationError as exc:\n"
        "    print(exc)",
    ),
    (
        "code",
        "Xm = X.drop(columns=['age'])\n"
        "log = AuditLog(work / 'audit.db', pseudonym_key=b'demo-key-please-change-me-0000000')\n"
        "em = ExplainedModel(build_pipeline(Xm, n_estimators=50), catalog=load_bank_catalog(),\n"
        "                    policy=Policy(blocked=['age'], hidden=['marital']), audit_log=log).fit(Xm, y)\n"
        "explainscore.save(em, work / 'model')",
    ),
    (
        "md",
        "Sign-off is four-eyes and signed: the owner (ana) creates the card with her key, a "
        "second person (ben) approves it with his, and the production door verifies ben's "
        "signature, and ana's on the card, against a keyring of trusted public keys. In "
        "practice each key lives in a "
        "file of its holder (`explainscore keys create`) and the keyring is a file the door is "
        "given (`explainscore keys trust`, `--trusted-keys`).",
    ),
    (
        "code",
        "ana, ben = generate_key('ana'), generate_key('ben')\n"
        "trusted = Keyring()\n"
        "trusted.trust(ana.public_key)  # the owner's key: the card must be signed by its owner\n"
        "trusted.trust(ben.public_key)\n"
        "card = ModelCard.for_model(explainscore.load(work / 'model'), owner_key=ana, name='leads', intended_use='rank leads')\n"
        "sign_off(card, key=ben, note='reviewed the fairness report').save(work / 'model' / 'card.json')\n"
        "live = explainscore.load(work / 'model', require_sign_off=True, trusted_keys=trusted, audit_log=log)\n"
        "batch = live.explain(Xm.iloc[:500], actor='notebook', lead_ids=[f'L{i}' for i in range(500)])\n"
        "batch[0].signed_off, batch[0].audit_seq",
    ),
    ("code", "result = log.verify()\nassert result.ok\nresult.records"),
    (
        "md",
        "Fairness audit of the leads the model passes over, by age band (an audit-time "
        "attribute, never a model input).",
    ),
    (
        "code",
        "import pandas as pd\n"
        "age_band = pd.cut(X['age'].iloc[:500], [0, 24, 59, 200], labels=['<25', '25-59', '60+']).astype(str)\n"
        "report = fairness_audit(batch, {'age band': age_band.to_numpy()}, threshold=0.15)\n"
        "print(report.to_markdown()[:1500])",
    ),
    ("code", "fig = report.plot()"),
]

PERFORMANCE = [
    (
        "md",
        "# Performance: explainscore's TreeSHAP core against shap and XGBoost's own code\n\n"
        "A small, quick version of `benchmarks/bench_tree.py` (which writes the release "
        "figures). One thread; the machine may be shared, so take the ratios, not the "
        "absolute times.",
    ),
    (
        "code",
        "import time, numpy as np, shap, xgboost as xgb\n"
        "from explainscore.attribution.tree import TreeShapCore, compile_ensemble\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(4000, 40)); y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)\n"
        "model = xgb.XGBClassifier(n_estimators=150, max_depth=6, n_jobs=1).fit(X, y)\n"
        "core = TreeShapCore(compile_ensemble(model))\n"
        "core.shap_values(X[:10])  # compile (cached on disk after the first run)\n"
        "def best(f, n=3):\n"
        "    out = []\n"
        "    for _ in range(n):\n"
        "        t = time.perf_counter(); f(); out.append(time.perf_counter() - t)\n"
        "    return min(out)\n"
        "rows = X[:2000]\n"
        "t_ours = best(lambda: core.shap_values(rows))\n"
        "t_shap = best(lambda: shap.TreeExplainer(model).shap_values(rows), 1)\n"
        "dm = xgb.DMatrix(rows)\n"
        "t_native = best(lambda: model.get_booster().predict(dm, pred_contribs=True), 1)\n"
        "{'ours rows/s': len(rows) / t_ours, 'shap rows/s': len(rows) / t_shap, 'native rows/s': len(rows) / t_native}",
    ),
    (
        "code",
        "import matplotlib.pyplot as plt\n"
        "names = ['explainscore', 'shap TreeExplainer', 'XGBoost pred_contribs']\n"
        "rates = [len(rows) / t for t in (t_ours, t_shap, t_native)]\n"
        "fig, ax = plt.subplots(figsize=(6, 2.5)); ax.barh(names[::-1], rates[::-1], color=['#999', '#999', '#1b7f3b'])\n"
        "ax.set_xlabel('rows explained per second (one thread)'); fig.tight_layout()",
    ),
    (
        "code",
        "vals = core.shap_values(rows[:200])\n"
        "ref = model.get_booster().predict(xgb.DMatrix(rows[:200]), pred_contribs=True)[:, :-1]\n"
        "float(np.abs(vals - ref).max())",
    ),
]


def write(name: str, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        for kind, src in cells
    ]
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    write("01_quickstart.ipynb", QUICKSTART)
    write("02_governance.ipynb", GOVERNANCE)
    write("03_performance.ipynb", PERFORMANCE)
