"""The ``explainscore`` command.

Exit codes: 0 success; 1 a user error (bad input, model, parameter, refused model); 2 a usage
error (unknown command or option). Errors go to stderr on one line; ``--debug`` shows the
traceback. ``-q`` leaves only errors (and the data a command exists to print); ``-v`` adds
stage timings on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .exceptions import ExplainScoreError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(Path(args.output), n_show=args.show, out=sys.stdout)
    return 0


def _console(args: argparse.Namespace) -> Any:
    """The run's one Console (stage times count from the first call)."""
    from ._progress import Console

    console = getattr(args, "console", None)
    if console is None:
        console = args.console = Console(_verbosity(args))
    return console


def _verbosity(args: argparse.Namespace) -> int:
    return int(getattr(args, "verbosity", 0) or 0)


def _say(args: argparse.Namespace, line: str) -> None:
    """A command's closing summary on stdout, unless ``-q``."""
    if _verbosity(args) >= 0:
        print(line)


def _load(args: argparse.Namespace, *, batch: bool = False, **overrides: Any) -> Any:
    from .io import load, load_for_batch

    console = _console(args)
    console.stage(f"loading the model from {args.model}")
    # ``explain`` runs the bundle's compiled form when it has one: no scikit-learn to import.
    em = (load_for_batch if batch else load)(
        args.model,
        trust=args.trust_pickle,
        require_sign_off=not args.allow_unsigned,
        trusted_keys=getattr(args, "trusted_keys", None),
        **overrides,
    )
    console.stage("model loaded and checked")
    return em


def _explain(args: argparse.Namespace) -> int:
    from ._batch_files import explain_file, process_kill_switch
    from .exceptions import ScoringPausedError

    # The process-wide kill switch stops the run before the model is even loaded.
    paused = process_kill_switch()
    if paused is not None:
        raise ScoringPausedError(
            f"explainscore explain refused: scoring is paused by {paused}. Nothing was "
            "written. Release the switch and run again."
        )
    overrides: dict[str, Any] = {}
    if args.top_k is not None:
        overrides["top_k"] = args.top_k
    if args.catalog is not None:
        overrides["catalog"] = args.catalog
    em = _load(args, batch=True, **overrides)
    with _terminate_cleanly():
        summary = explain_file(
            em,
            Path(args.input),
            Path(args.output),
            rejects_path=None if args.rejects is None else Path(args.rejects),
            chunk_size=args.chunk_size,
            id_columns=tuple(args.id_column),
            crm_fields=args.crm,
            sep=args.sep,
            console=_console(args),
        )
    _say(args, summary.line)
    return 0


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into an exception while a file is written, so that its temporaries are
    removed and no partial file is left (SIGKILL cannot be caught: it may leave a temporary,
    never a file at the final path)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise _Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(args: argparse.Namespace) -> int:
    from .governance._keys import TRUSTED_KEYS_ENV
    from .service import ServiceConfig, serve

    if args.trusted_keys:
        # Workers beyond the first load and verify the model themselves: they read the
        # keyring from the environment they inherit.
        import os

        os.environ[TRUSTED_KEYS_ENV] = str(Path(args.trusted_keys).resolve())
    em = _load(args)
    # Workers beyond the first load the saved model themselves (no pickle crosses processes).
    config = ServiceConfig.from_env(
        require_sign_off=not args.allow_unsigned, model_path=str(args.model)
    )
    serve(em, name=args.name, host=args.host, port=args.port, config=config)
    return 0


def _passphrase(args: argparse.Namespace) -> str | None:
    """The passphrase from the environment variable named by --passphrase-env (never argv:
    command lines are visible to other users and kept in shell history)."""
    import os

    from .exceptions import ParameterError

    var = getattr(args, "passphrase_env", None)
    if not var:
        return None
    value = os.environ.get(var)
    if not value:
        raise ParameterError(
            f"--passphrase-env names the environment variable {var}, which is not set or "
            "empty. Export the passphrase in it, or leave --passphrase-env out."
        )
    return value


def _card(args: argparse.Namespace) -> int:
    from .exceptions import ParameterError
    from .governance import ModelCard, load_signing_key

    if args.owner is None and args.owner_key is None:
        raise ParameterError("explainscore card needs --owner-key KEY (or at least --owner NAME).")
    owner_key = (
        None
        if args.owner_key is None
        else load_signing_key(args.owner_key, passphrase=_passphrase(args))
    )
    em = _load(args)
    card = ModelCard.for_model(
        em,
        name=args.name,
        owner=args.owner,
        owner_key=owner_key,
        intended_use=args.intended_use,
        training_data=args.training_data,
    )
    target = Path(args.model) / "card.json"
    card.save(target)
    signed = "signed by the owner's key" if owner_key is not None else "no owner key"
    _say(
        args,
        f"wrote {target} for {card.model_fingerprint} ({signed}); next, a second "
        f"person approves it with 'explainscore sign-off {args.model} --key KEY'",
    )
    return 0


def _sign_off(args: argparse.Namespace) -> int:
    from .exceptions import NotSignedOffError
    from .governance import ModelCard, load_signing_key, sign_off
    from .io import load

    path = Path(args.model) / "card.json"
    if not path.exists():
        print(f"explainscore: error: {path} does not exist; the model's owner writes it "
              f"first with 'explainscore card {args.model} --name NAME --intended-use TEXT "
              "--owner-key OWNER.key'", file=sys.stderr)  # fmt: skip
        return 1
    card = ModelCard.load(path)
    key = load_signing_key(args.key, passphrase=_passphrase(args))
    # Approve only the bundle that is actually on disk: its fingerprint must be the card's.
    on_disk = load(args.model, require_sign_off=False).model_fingerprint_
    if on_disk != card.model_fingerprint:
        raise NotSignedOffError(
            f"explainscore sign-off refused: the model at {args.model} ({on_disk[:19]}...) is "
            f"not the one its card describes; run 'explainscore card {args.model} ...' again "
            "first."
        )
    card = sign_off(card, key=key, note=args.note)
    card.save(path)
    _say(args, f"{key.identity} (key {key.key_id[:16]}...) signed off {card.model_fingerprint}")
    return 0


def _printable(text: str) -> str:
    # Keyring entries may have been edited by hand: no terminal escapes or forged lines.
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _keys_create(args: argparse.Namespace) -> int:
    from .governance import generate_key

    out = Path(args.out)
    key = generate_key(args.identity)
    pub = key.save(out, passphrase=_passphrase(args))
    _say(args, f"wrote {out} (private: keep it to yourself) and {pub} (public: give it to "
               f"whoever keeps the trusted keyring, who runs 'explainscore keys trust KEYRING "
               f"{pub}'); key id {key.key_id}")  # fmt: skip
    return 0


def _keys_trust(args: argparse.Namespace) -> int:
    from .governance import Keyring, PublicKey

    ring = Keyring.load_or_new(args.keyring)
    entry = ring.trust(PublicKey.load(args.public_key))
    ring.save()
    _say(args, f"trusted key {entry.key_id} for {_printable(entry.identity)} in {args.keyring}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from .governance import Keyring

    ring = Keyring.load(args.keyring)
    entry = ring.revoke(args.key_id, reason=args.reason)
    ring.save()
    _say(args, f"revoked key {entry.key_id} of {_printable(entry.identity)} at {entry.revoked_at}")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from .governance import Keyring

    ring = Keyring.load(args.keyring)
    for entry in ring:
        status = "trusted" if not entry.revoked else f"REVOKED {entry.revoked_at}"
        line = (f"{entry.key_id}  {status}  {entry.identity}  created {entry.created_at}  "
                f"trusted {entry.trusted_at}")  # fmt: skip
        if entry.revoked:
            line += f"  reason: {entry.revoked_reason}"
        print(_printable(line))
    if not len(ring):
        print(f"{args.keyring} holds no keys")
    return 0


def _fairness(args: argparse.Namespace) -> int:
    from ._batch_files import process_kill_switch, read_frame, write_atomically
    from .exceptions import ScoringPausedError
    from .governance import fairness_audit

    paused = process_kill_switch()
    if paused is not None:
        raise ScoringPausedError(
            f"explainscore fairness refused: scoring is paused by {paused}. Nothing was "
            "written. Release the switch and run again."
        )
    em = _load(args)
    if em._kill_state().engaged:
        raise ScoringPausedError(
            "explainscore fairness refused: scoring is paused by the model's kill switch. "
            "Nothing was written."
        )
    # Sensitive columns are read for the groups only: they may be blocked as model inputs.
    frame, unread = read_frame(em, Path(args.input), sep=args.sep, keep=args.sensitive)
    missing = [c for c in args.sensitive if c not in frame.columns]
    if missing:
        print(f"explainscore: error: --sensitive column(s) {missing} are not in {args.input}",
              file=sys.stderr)  # fmt: skip
        return 1
    names = [str(n) for n in em.feature_names_in_]
    batch = em.explain(frame[names], on_error="skip")
    sensitive = frame.loc[batch.data.index, args.sensitive]
    report = fairness_audit(
        batch, sensitive, threshold=args.threshold, show_hidden=args.show_hidden
    )
    out = Path(args.output)
    text = report.to_html() if out.suffix.lower() in (".html", ".htm") else report.to_markdown()
    write_atomically(out, text)
    flagged = [g for g in report.groups if g.four_fifths_flag]
    skipped = len(frame) - len(batch) + unread
    _say(args, f"wrote {out}: {len(batch):,} leads ({skipped:,} rows could not be used), "
               f"{len(flagged)} group(s) below four-fifths")  # fmt: skip
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


def _warmup(args: argparse.Namespace) -> int:
    from ._warmup import warmup

    report = warmup()
    print("\n".join(report.lines()))
    return 0


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
    p.add_argument("--trusted-keys", metavar="FILE",
                   help="keyring of the approvers' public keys that sign-offs are verified "
                        "against (default: $EXPLAINSCORE_TRUSTED_KEYS)")  # fmt: skip


def _output_flags(*, top: bool) -> argparse.ArgumentParser:
    """-q / -v, accepted before the command and after it. Only the top level has defaults, so
    a flag given in one place is not reset by the other."""
    flags = argparse.ArgumentParser(add_help=False)
    group = flags.add_mutually_exclusive_group()
    default: Any = 0 if top else argparse.SUPPRESS
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                       default=default,
                       help="errors only: no progress bar, notes or summary line")  # fmt: skip
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                       default=default,
                       help="also show each stage of the run and how long it took "
                            "(on stderr)")  # fmt: skip
    return flags


def _parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="explainscore",
        description="Exact, readable explanations for lead scores.",
        epilog="Exit codes: 0 ok, 1 user error, 2 usage error.",
        parents=[_output_flags(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"explainscore {__version__}",
                        help="print the version and exit")  # fmt: skip
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_output_flags(top=False)]

    def command(group: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, parents=common, **kwargs)
        return parser

    demo = command(sub, "demo", help="train on the bundled bank data and explain leads",
                   description="Trains a model on the bundled bank-marketing data (a "
                   "stratified split), prints its held-out ROC AUC and a few leads' "
                   "explanations, and writes the scored leads as CSV.")  # fmt: skip
    demo.add_argument("--output", default="demo_output",
                      help="folder for the CSV files (default demo_output)")  # fmt: skip
    demo.add_argument("--show", type=int, default=10, help="leads to print (default 10)")
    demo.set_defaults(func=_demo)

    explain = command(
        sub,
        "explain",
        help="explain a CSV/Parquet file of leads in chunks",
        description="Every input row lands in OUTPUT or in the rejects file with its reason. "
        "Columns the model does not use are ignored; keep identifiers with --id-column. On a "
        "terminal a progress bar shows rows, rows/s and the time left (not with -q).",
    )
    _add_model_flags(explain)
    explain.add_argument("--input", required=True, metavar="FILE",
                         help="leads (.csv, .csv.gz or .parquet)")  # fmt: skip
    explain.add_argument("--output", required=True, metavar="FILE",
                         help="scored leads (.csv or .parquet)")  # fmt: skip
    explain.add_argument("--rejects", metavar="FILE",
                         help="rejected rows (default: OUTPUT with .rejects before the "
                              "suffix)")  # fmt: skip
    explain.add_argument("--top-k", type=int, metavar="N",
                         help="principal factors per lead (default: the model's; keeps "
                              "the sign-off)")  # fmt: skip
    explain.add_argument("--catalog", metavar="FILE",
                         help="a reason catalog (.yaml / .json) replacing the model's")  # fmt: skip
    explain.add_argument("--chunk-size", type=int, default=10_000, metavar="N",
                         help="rows read and explained at a time (default 10,000; memory "
                              "grows with it)")  # fmt: skip
    explain.add_argument("--id-column", action="append", default=[], metavar="COLUMN",
                         help="an identifier column copied to the output (repeatable)")  # fmt: skip
    explain.add_argument("--crm", default="salesforce",
                         choices=["salesforce", "dynamics", "hubspot"],
                         help="CRM field budgets (default salesforce: 255)")  # fmt: skip
    explain.add_argument("--sep", default=",", help="CSV separator (default ','; '\\t' for tab)")
    explain.set_defaults(func=_explain)

    serve = command(sub, "serve", help="run the HTTP explainer sidecar",
                    description="Serves the model over HTTP (KServe V1: :predict, :explain, "
                    "/metrics). Settings beyond these options come from "
                    "EXPLAINSCORE_SERVICE_* variables (docs/service.md).")  # fmt: skip
    _add_model_flags(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; another address "
                            "needs tokens)")  # fmt: skip
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--name", default="model", help="the model's name in the URL")
    serve.set_defaults(func=_serve)

    card = command(sub, "card", help="write a model card for a saved model",
                   description="Writes MODEL/card.json: what the model is for, who owns it, "
                   "its fingerprint and default score bands. A second person then approves "
                   "it with 'explainscore sign-off'.")  # fmt: skip
    _add_model_flags(card)
    card.add_argument("--name", required=True, help="the model's name on the card ('leads-v4')")
    card.add_argument("--owner-key", metavar="KEY",
                      help="the owner's signing key: the card records it and is signed with "
                           "it, so that key can never approve the model")  # fmt: skip
    card.add_argument("--owner", help="the owner's name (default: the identity of --owner-key)")
    card.add_argument("--intended-use", required=True, metavar="TEXT",
                      help="what the scores may be used for ('rank inbound leads for "
                           "sales calls')")  # fmt: skip
    card.add_argument("--training-data", default="", metavar="TEXT",
                      help="where the training data came from and its period")  # fmt: skip
    card.add_argument("--passphrase-env", metavar="VAR",
                      help="environment variable holding the key's passphrase")  # fmt: skip
    card.set_defaults(func=_card, allow_unsigned=True)

    sign = command(
        sub,
        "sign-off",
        help="approve a saved model's card with your signing key",
        description="Signs the card (every field, and the bundle fingerprint) with an Ed25519 "
        "key. Doors count the sign-off only if the key is in their trusted keyring, not "
        "revoked, and not the owner's.",
    )
    sign.add_argument("model", help="the model directory whose card.json you approve")
    sign.add_argument("--key", required=True, metavar="KEY",
                      help="your private key file (from 'explainscore keys create')")  # fmt: skip
    sign.add_argument("--passphrase-env", metavar="VAR",
                      help="environment variable holding the key's passphrase")  # fmt: skip
    sign.add_argument("--note", default="", help="what you reviewed")
    sign.set_defaults(func=_sign_off)

    keys = command(sub, "keys", help="signing keys and the trusted keyring")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = command(keys_sub, "create", help="create a signing key and its public key")
    create.add_argument("--identity", required=True, help="who holds the key ('ben')")
    create.add_argument("--out", required=True, metavar="KEY",
                        help="private key file (mode 0600); the public key goes to KEY "
                             "with the suffix .pub")  # fmt: skip
    create.add_argument("--passphrase-env", metavar="VAR",
                        help="encrypt the key with the passphrase in this environment "
                             "variable")  # fmt: skip
    create.set_defaults(func=_keys_create)
    trust = command(keys_sub, "trust", help="add a public key to a keyring")
    trust.add_argument("keyring", help="keyring file (created if missing)")
    trust.add_argument("public_key", help="a .pub file from 'explainscore keys create'")
    trust.set_defaults(func=_keys_trust)
    revoke = command(keys_sub, "revoke", help="revoke a key: its signatures stop counting")
    revoke.add_argument("keyring", help="the keyring file")
    revoke.add_argument("key_id", help="the full key id ('explainscore keys list')")
    revoke.add_argument("--reason", required=True, help="why (kept in the keyring)")
    revoke.set_defaults(func=_keys_revoke)
    listing = command(keys_sub, "list", help="list a keyring's keys, revoked ones included")
    listing.add_argument("keyring", help="the keyring file")
    listing.set_defaults(func=_keys_list)

    fair = command(
        sub,
        "fairness",
        help="fairness audit of a model on a file of leads with sensitive attributes",
        description="Explains the leads, then reports selection rates, four-fifths impact "
        "ratios and the principal reasons of rejected leads per group.",
    )
    _add_model_flags(fair)
    fair.add_argument("--input", required=True, metavar="FILE",
                      help="leads with the sensitive columns (.csv)")  # fmt: skip
    fair.add_argument("--sensitive", action="append", required=True, metavar="COLUMN",
                      help="a sensitive column (repeatable; never a model input)")  # fmt: skip
    fair.add_argument("--threshold", type=float, required=True,
                      help="selection threshold: a lead scoring at least this is "
                           "selected")  # fmt: skip
    fair.add_argument("--output", required=True, metavar="FILE", help="report (.md or .html)")
    fair.add_argument("--sep", default=",", help="CSV separator (default ',')")
    fair.add_argument("--show-hidden", action="store_true",
                      help="for auditors: name the columns hidden from reps (policy or "
                      "catalog) in the report; by default they are all reported as "
                      "'a hidden column'")  # fmt: skip
    fair.set_defaults(func=_fairness)

    warm = command(
        sub,
        "warmup",
        help="compile every kernel into the cache and import what a worker needs",
        description="Run once in an image build or a worker's start-up so that the first "
        "lead does not pay compilation. The kernels go to $EXPLAINSCORE_CACHE_DIR/numba "
        "(default ~/.cache/explainscore/numba; NUMBA_CACHE_DIR wins if set).",
    )
    warm.set_defaults(func=_warmup)

    bench = command(sub, "bench", help="run the benchmark suite (from a source checkout)")
    bench.add_argument("--quick", action="store_true", help="CI-sized runs")
    bench.set_defaults(func=_bench)

    audit = command(sub, "audit", help="audit log tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = command(audit_sub, "verify", help="verify an audit log's hash chain",
                     description="Recomputes every record's hash and link (both canonical "
                     "JSON versions: RFC 8785 and the older form) and prints one line. Exit "
                     "0 intact, 1 not intact, 2 usage.")  # fmt: skip
    verify.add_argument("log", help="the audit log (.db SQLite or .jsonl JSON Lines)")
    verify.add_argument("--checkpoint", metavar="FILE",
                        help="a checkpoint file, to detect truncation")  # fmt: skip
    verify.set_defaults(func=_audit_verify)
    return parser


# --- messages -------------------------------------------------------------------------------

# The library's messages are written for Python callers ("pass trust=True", "sign_off(...)");
# a command-line user types flags and commands. This one table rewrites the Python hints that
# reach the command line into what to type instead (tests/security/test_cli_files.py checks
# every message a door gives). Options named by parameter errors ("The 'top_k' parameter of
# ExplainedModel must be ...") are mapped through _FLAGS.
_FLAGS = {
    "top_k": "--top-k",
    "catalog": "--catalog",
    "trust": "--trust-pickle",
    "trusted_keys": "--trusted-keys",
    "chunk_size": "--chunk-size",
    "threshold": "--threshold",
    "sep": "--sep",
}
_CLI_WORDS: tuple[tuple[str, str], ...] = (
    # Python spellings given beside the command-line ones: the command line keeps its own.
    (r" \(ModelCard\.for_model\([^()]*\)\)", ""),
    (r"\(explainscore card, explainscore sign-off\)",
     "with 'explainscore card' then 'explainscore sign-off'"),
    (r"Create the card again\.", "Create the card again with 'explainscore card'."),
    (r" \((?:Python: [^)]*|ModelCard\.for_model|sign_off|the CLI: [^)]*)\)", ""),
    (r"\b(?:run|load) without require_sign_off(?: \(or with --allow-unsigned\))?",
     "run with --allow-unsigned"),
    (r"\brequire_sign_off=False\b", "--allow-unsigned"),
    (r"\btrust=True\b", "--trust-pickle"),
    (r"--trust(?![\w-])", "--trust-pickle"),
    (r"\bModelCard\.for_model\b(?:\(\.\.\.\))?", "'explainscore card MODEL'"),
    (r"\bsign_off\((?:card, )?[^)]*\)", "'explainscore sign-off MODEL --key KEY'"),
    (r"\bwith sign_off\b", "with 'explainscore sign-off MODEL --key KEY'"),
    (r",? and pass card=\.\.\.", ""),
    (r"\btrusted_keys=\.\.\.", "--trusted-keys FILE"),
    (r",? or pass on_error='skip' to explain the other rows and report these", ""),
    (r"^sign_off refused", "explainscore sign-off refused"),
    (r" Overrides that keep the sign-off: [\w, ]*\.", " --top-k keeps the sign-off."),
    # Bare command names, completed with the flags each needs (the library names commands
    # only: a Python caller reads them as pointers, a command-line user types them).
    (r"'explainscore card'",
     "'explainscore card MODEL --name NAME --intended-use TEXT --owner-key OWNER.key'"),
    (r"'explainscore sign-off'", "'explainscore sign-off MODEL --key THEIR.key'"),
    (r"'explainscore keys trust'", "'explainscore keys trust KEYRING THEIR.pub'"),
    (r"give the door their public key in a trusted keyring",
     "trust their public key with 'explainscore keys trust KEYRING THEIR.pub' and pass "
     "--trusted-keys KEYRING"),
)  # fmt: skip


def cli_message(text: str, command: str = "") -> str:
    """A library message in the command line's words, on one line (see ``_CLI_WORDS``)."""
    import re

    out = " ".join(text.split())
    for pattern, replacement in _CLI_WORDS:
        out = re.sub(pattern, replacement, out)

    def flag(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"The {_FLAGS[name]} option" if name in _FLAGS else match.group(0)

    out = re.sub(r"The '(\w+)' parameter of [\w.]+", flag, out)

    def overrides(match: re.Match[str]) -> str:
        names = re.findall(r"'(\w+)'", match.group(1))
        return "the option(s) " + ", ".join(_FLAGS.get(n, repr(n)) for n in names)

    out = re.sub(r"the override\(s\) ((?:'\w+'(?:, )?)+)", overrides, out)
    door = f"explainscore {command}" if command else "explainscore"
    return re.sub(r"^(?:explainscore\.load|ExplainedModel) refused", f"{door} refused", out)


def _os_message(exc: OSError) -> str:
    # strerror and the path the user gave; never str(exc), which some OSErrors (a bad gzip
    # file) fill with bytes read from the file.
    if exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__} while reading or writing a file"


class _Stopped(BaseException):
    """SIGTERM arrived while a command wrote files (a BaseException, like KeyboardInterrupt,
    so that no ``except Exception`` on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    An expected failure (a refused model or file, bad input, a file that cannot be read or
    written) prints one line on stderr and returns 1; it never prints a traceback (unless
    ``--debug``) or a value read from a file.
    """
    import csv

    parser = _parser()
    args = parser.parse_args(argv)
    command = str(getattr(args, "command", "") or "")
    try:
        code: Any = args.func(args)
    except ExplainScoreError as exc:
        if args.debug:
            raise
        _fail(cli_message(str(exc), command))
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        _fail("interrupted; an earlier output file is left as it was")
        return 130
    except _Stopped as stop:
        _fail("stopped by SIGTERM; an earlier output file is left as it was")
        return 128 + stop.signum
    except OSError as exc:
        if args.debug:
            raise
        _fail(_os_message(exc))
        return 1
    except (UnicodeError, ValueError, csv.Error, MemoryError, RecursionError) as exc:
        if args.debug:
            raise
        # The text of these errors may quote the file (a value, a line): it is not shown.
        _fail(
            f"{type(exc).__name__} while reading a file or the model; run with --debug for "
            "the details (they may show values from the file)"
        )
        return 1
    return int(code)


def _fail(message: str) -> None:
    print(f"explainscore: error: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
