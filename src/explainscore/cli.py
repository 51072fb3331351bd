"""The ``explainscore`` command.

Exit codes: 0 success; 1 a user error (bad input, model, parameter, refused model); 2 a usage
error (unknown command or option). Errors go to stderr on one line; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .exceptions import ExplainScoreError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(Path(args.output), n_show=args.show, out=sys.stdout)
    return 0


def _load(args: argparse.Namespace, **overrides: Any) -> Any:
    from .io import load

    return load(
        args.model,
        trust=args.trust_pickle,
        require_sign_off=not args.allow_unsigned,
        **overrides,
    )


def _explain(args: argparse.Namespace) -> int:
    from ._batch_files import explain_file

    overrides: dict[str, Any] = {}
    if args.top_k is not None:
        overrides["top_k"] = args.top_k
    if args.catalog is not None:
        overrides["catalog"] = args.catalog
    em = _load(args, **overrides)
    summary = explain_file(
        em,
        Path(args.input),
        Path(args.output),
        rejects_path=None if args.rejects is None else Path(args.rejects),
        chunk_size=args.chunk_size,
        id_columns=tuple(args.id_column),
        crm_fields=args.crm,
        sep=args.sep,
    )
    print(summary.line)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .service import ServiceConfig, serve

    em = _load(args)
    # Workers beyond the first load the saved model themselves (no pickle crosses processes).
    config = ServiceConfig.from_env(
        require_sign_off=not args.allow_unsigned, model_path=str(args.model)
    )
    serve(em, name=args.name, host=args.host, port=args.port, config=config)
    return 0


def _card(args: argparse.Namespace) -> int:
    from .governance import ModelCard

    em = _load(args)
    card = ModelCard.for_model(
        em,
        name=args.name,
        owner=args.owner,
        intended_use=args.intended_use,
        training_data=args.training_data,
    )
    target = Path(args.model) / "card.json"
    card.save(target)
    print(f"wrote {target} for {card.model_fingerprint}")
    return 0


def _sign_off(args: argparse.Namespace) -> int:
    from .governance import ModelCard, sign_off

    path = Path(args.model) / "card.json"
    if not path.exists():
        print(f"explainscore: error: {path} does not exist; run 'explainscore card' first",
              file=sys.stderr)  # fmt: skip
        return 1
    card = sign_off(ModelCard.load(path), approver=args.approver, note=args.note)
    card.save(path)
    print(f"{args.approver} signed off {card.model_fingerprint}")
    return 0


def _fairness(args: argparse.Namespace) -> int:
    import pandas as pd

    from .governance import fairness_audit

    em = _load(args)
    frame = pd.read_csv(args.input, sep=args.sep)
    missing = [c for c in args.sensitive if c not in frame.columns]
    if missing:
        print(f"explainscore: error: sensitive column(s) {missing} are not in {args.input}",
              file=sys.stderr)  # fmt: skip
        return 1
    names = [str(n) for n in em.feature_names_in_]
    batch = em.explain(frame[names], on_error="skip")
    sensitive = frame.loc[batch.data.index, args.sensitive]
    report = fairness_audit(batch, sensitive, threshold=args.threshold)
    out = Path(args.output)
    text = report.to_html() if out.suffix.lower() in (".html", ".htm") else report.to_markdown()
    out.write_text(text, encoding="utf-8")
    flagged = [g for g in report.groups if g.four_fifths_flag]
    print(f"wrote {out}: {len(batch):,} leads, {len(flagged)} group(s) below four-fifths")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import subprocess

    script = Path.cwd() / "benchmarks" / "run.py"
    if not script.exists():
        message = (
            "explainscore: error: run 'explainscore bench' from a source checkout "
            "(benchmarks/run.py is not part of the installed package)"
        )
        print(message, file=sys.stderr)
        return 1
    cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
    return subprocess.call(cmd)


def _audit_verify(args: argparse.Namespace) -> int:
    from .governance._audit import audit_verify_main

    return int(audit_verify_main(args.log, checkpoint=args.checkpoint))


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a model directory written by explainscore.save")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow a pickle/joblib model file or unknown object types (only for "
                        "files you trust: loading them can run code)")  # fmt: skip
    p.add_argument("--allow-unsigned", action="store_true",
                   help="development only: run a model that is not signed off")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="explainscore",
        description="Exact, readable explanations for lead scores.",
        epilog="Exit codes: 0 ok, 1 user error, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"explainscore {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train on the bundled bank data and explain leads")
    demo.add_argument("--output", default="demo_output", help="folder for the CSV files")
    demo.add_argument("--show", type=int, default=10, help="leads to print (default 10)")
    demo.set_defaults(func=_demo)

    explain = sub.add_parser(
        "explain",
        help="explain a CSV/Parquet file of leads in chunks",
        description="Every input row lands in OUTPUT or in the rejects file with its reason. "
        "Columns the model does not use are ignored; keep identifiers with --id-column.",
    )
    _add_model_flags(explain)
    explain.add_argument("--input", required=True, help="leads (.csv or .parquet)")
    explain.add_argument("--output", required=True, help="scored leads (.csv or .parquet)")
    explain.add_argument("--rejects", help="rejected rows (default: OUTPUT with .rejects)")
    explain.add_argument("--top-k", type=int, help="principal factors per lead")
    explain.add_argument("--catalog", help="a catalog file (.yaml / .json)")
    explain.add_argument("--chunk-size", type=int, default=10_000, help="rows per chunk")
    explain.add_argument("--id-column", action="append", default=[],
                         help="an identifier column copied to the output (repeatable)")  # fmt: skip
    explain.add_argument("--crm", default="salesforce",
                         choices=["salesforce", "dynamics", "hubspot"],
                         help="CRM field budgets (default salesforce: 255)")  # fmt: skip
    explain.add_argument("--sep", default=",", help="CSV separator (default ',')")
    explain.set_defaults(func=_explain)

    serve = sub.add_parser("serve", help="run the HTTP explainer sidecar")
    _add_model_flags(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--name", default="model", help="the model's name in the URL")
    serve.set_defaults(func=_serve)

    card = sub.add_parser("card", help="write a model card for a saved model")
    _add_model_flags(card)
    card.add_argument("--name", required=True)
    card.add_argument("--owner", required=True)
    card.add_argument("--intended-use", required=True)
    card.add_argument("--training-data", default="")
    card.set_defaults(func=_card, allow_unsigned=True)

    sign = sub.add_parser("sign-off", help="approve a saved model's card")
    sign.add_argument("model")
    sign.add_argument("--approver", required=True)
    sign.add_argument("--note", default="")
    sign.set_defaults(func=_sign_off)

    fair = sub.add_parser(
        "fairness",
        help="fairness audit of a model on a file of leads with sensitive attributes",
        description="Explains the leads, then reports selection rates, four-fifths impact "
        "ratios and the principal reasons of rejected leads per group.",
    )
    _add_model_flags(fair)
    fair.add_argument("--input", required=True, help="leads with the sensitive columns (.csv)")
    fair.add_argument("--sensitive", action="append", required=True,
                      help="a sensitive column (repeatable; never a model input)")  # fmt: skip
    fair.add_argument("--threshold", type=float, required=True, help="selection threshold")
    fair.add_argument("--output", required=True, help="report (.md or .html)")
    fair.add_argument("--sep", default=",", help="CSV separator (default ',')")
    fair.set_defaults(func=_fairness)

    bench = sub.add_parser("bench", help="run the benchmark suite (from a source checkout)")
    bench.add_argument("--quick", action="store_true", help="CI-sized runs")
    bench.set_defaults(func=_bench)

    audit = sub.add_parser("audit", help="audit log tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="verify an audit log's hash chain")
    verify.add_argument("log")
    verify.add_argument("--checkpoint", help="a checkpoint file, to detect truncation")
    verify.set_defaults(func=_audit_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: Any = args.func(args)
    except ExplainScoreError as exc:
        if args.debug:
            raise
        print(f"explainscore: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"explainscore: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
