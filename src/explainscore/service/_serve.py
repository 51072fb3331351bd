"""Running the service: one process with the model in hand, or several loading their own.

Several uvicorn workers are separate processes started from an import string, so the model
object cannot be handed to them (that would need pickle). Each worker instead calls
:func:`app_factory`, which builds its models from a saved-model directory
(``ServiceConfig.model_path``, loaded with :func:`explainscore.load`) or a factory function
(``ServiceConfig.factory``). The settings travel in one environment variable, with inline
tokens replaced by their SHA-256 digests so no token is copied into the workers' environment.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import ipaddress
import json
import os
import socket
from collections.abc import Mapping
from typing import Any

from .._optional import import_optional
from ..exceptions import ParameterError
from ._auth import Authenticator, hash_token
from ._config import ENV_PREFIX, ServiceConfig
from ._logging import install_access_log_redaction

__all__ = ["WORKER_SPEC_ENV", "app_factory", "is_loopback", "serve"]

#: Set by :func:`serve` for its worker processes: JSON of the model name and settings.
WORKER_SPEC_ENV = ENV_PREFIX + "WORKER_SPEC"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` accepts connections from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def check_bind(host: str, config: ServiceConfig) -> None:
    """Refuse to listen beyond loopback without authentication."""
    if not is_loopback(host) and not config.auth_enabled:
        raise ParameterError(
            f"Refusing to serve on {host!r} without authentication: anyone who can reach it "
            "could score leads. Configure tokens (ServiceConfig tokens/token_file/token_env, "
            f"or {ENV_PREFIX}TOKEN_FILE / {ENV_PREFIX}TOKENS), or bind 127.0.0.1."
        )


def _portable(config: ServiceConfig) -> dict[str, Any]:
    """The settings as JSON for the workers, tokens as digests only."""
    data = config.model_dump(mode="json")
    if config.tokens:
        data["tokens"] = {
            name: [
                v if v.startswith("sha256:") else "sha256:" + hash_token(v).hex()
                for v in ([value] if isinstance(value, str) else value)
            ]
            for name, value in config.tokens.items()
        }
    return data


def serve(
    em: Any = None,
    *,
    name: str = "model",
    host: str = "127.0.0.1",
    port: int = 8080,
    config: ServiceConfig | None = None,
) -> None:
    """Serve ``em`` over HTTP with uvicorn until interrupted.

    Parameters
    ----------
    em : ExplainedModel, optional
        The model, served as ``name``. With ``config.workers > 1`` it is not used: each worker
        loads ``config.model_path`` or calls ``config.factory`` (one of them is required).
    name : str, default="model"
        The model's name in URLs: ``/v1/models/{name}:explain``.
    host : str, default="127.0.0.1"
        Address to bind. Anything but loopback requires authentication to be configured.
    port : int, default=8080
    config : ServiceConfig, optional
        Default ``ServiceConfig()`` (no tokens: loopback only).

    Notes
    -----
    TLS is left to the reverse proxy in front (docs/service.md).
    """
    config = ServiceConfig() if config is None else config
    check_bind(host, config)
    Authenticator(config)  # bad tokens or an unreadable token file fail here, before binding
    uvicorn = import_optional("uvicorn", extra="service", purpose="explainscore serve")
    # The access log gets no query strings (a token in a URL is not written to the log);
    # create_app installs the same filter, in each worker too.
    install_access_log_redaction()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": config.log_level,
        "server_header": False,
    }
    if config.workers == 1 and em is not None:
        from ._app import create_app

        uvicorn.run(create_app({name: em}, config=config), **options)
        return
    if config.model_path is None and config.factory is None:
        raise ParameterError(
            f"serve with workers={config.workers} needs ServiceConfig.model_path (a directory "
            "from explainscore.save) or ServiceConfig.factory ('module:function'): each worker "
            "process loads its own model."
        )
    os.environ[WORKER_SPEC_ENV] = json.dumps({"name": name, "config": _portable(config)})
    if config.workers == 1:
        uvicorn.run("explainscore.service._serve:app_factory", factory=True, **options)
        return
    _run_workers(uvicorn, config.workers, options)


def _run_workers(uvicorn: Any, workers: int, options: dict[str, Any]) -> None:
    """``uvicorn.run`` with several workers, on a listening socket that keeps TCP_NODELAY.

    uvicorn's supervisor binds the socket itself with ``proto=0``; accepted connections
    inherit that, and asyncio only disables Nagle's algorithm on sockets that say
    ``IPPROTO_TCP``. Every keep-alive response would then wait for the client's delayed ACK,
    about 40 ms on Linux (uvicorn issue #3149), longer than the explanation itself.
    """
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "explainscore.service._serve:app_factory", factory=True, workers=workers, **options
    )
    sock = tcp_socket(config.bind_socket())
    kwargs: dict[str, Any] = {"sockets": [sock]}
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.35
        kwargs["target"] = uvicorn.Server(config=config).run
    from ._metrics import multiprocess_dir

    # Each worker's /metrics then sums every worker's counts (prometheus_client's
    # multiprocess mode, through files in a directory the workers inherit).
    with multiprocess_dir(), contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: quietly
        Multiprocess(config, **kwargs).run()


def tcp_socket(sock: socket.socket) -> socket.socket:
    """The same listening socket, labelled ``IPPROTO_TCP`` so asyncio sets TCP_NODELAY on
    the connections it accepts (a Unix socket is returned unchanged)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


def app_factory() -> Any:
    """Build the app in a worker process (uvicorn ``--factory``).

    Reads the settings :func:`serve` left in ``EXPLAINSCORE_SERVICE_WORKER_SPEC``, or else
    :meth:`ServiceConfig.from_env` with the model name from ``EXPLAINSCORE_SERVICE_MODEL_NAME``
    (default ``model``), so it also runs under a process manager of your own::

        EXPLAINSCORE_SERVICE_MODEL_PATH=models/leads-v4 EXPLAINSCORE_SERVICE_TOKEN_FILE=... \\
            uvicorn --factory explainscore.service:app_factory --workers 4 --host 0.0.0.0

    Note that uvicorn run this way does not apply :func:`serve`'s loopback check.
    """
    from ._app import create_app

    spec_text = os.environ.get(WORKER_SPEC_ENV)
    if spec_text:
        spec = json.loads(spec_text)
        config = ServiceConfig.build(**spec["config"])
        name = str(spec["name"])
    else:
        config = ServiceConfig.from_env()
        name = os.environ.get(ENV_PREFIX + "MODEL_NAME", "model")
    return create_app(_models(config, name), config=config)


def _models(config: ServiceConfig, name: str) -> Mapping[str, Any]:
    if config.factory is not None:
        module_name, _, attr = config.factory.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ParameterError(
                f"ServiceConfig.factory {config.factory!r} cannot be imported ({exc})."
            ) from None
        made = function()
        return made if isinstance(made, Mapping) else {name: made}
    if config.model_path is None:
        raise ParameterError(
            f"No model to serve: set {ENV_PREFIX}MODEL_PATH (a directory from "
            f"explainscore.save) or {ENV_PREFIX}FACTORY ('module:function')."
        )
    from ..io import load

    return {name: load(config.model_path, require_sign_off=config.require_sign_off)}
