"""ServiceConfig: who may call the service, on which models, and the limits of a request."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..exceptions import ParameterError

__all__ = ["ENV_PREFIX", "ServiceConfig"]

#: Every environment variable read by :meth:`ServiceConfig.from_env` starts with this.
ENV_PREFIX = "EXPLAINSCORE_SERVICE_"


class ServiceConfig(BaseModel):
    """Settings of the HTTP service.

    Authentication is on as soon as any token source is given (``tokens``, ``token_file`` or
    ``token_env``); every model endpoint then needs ``Authorization: Bearer <token>``.

    Parameters
    ----------
    tokens : mapping of str to str or list of str, optional
        Caller name -> token (or several tokens, to rotate one caller's token without an
        outage). The name is the caller's identity in the audit log; the token never is. A
        value ``"sha256:<64 hex>"`` is the SHA-256 of a token rather than the token itself.
    token_file : str or Path, optional
        A file of ``name:token`` lines (``#`` comments and blank lines ignored; ``name`` may
        repeat; a token may be given as ``sha256:<hex>``). Re-read when it changes, so tokens
        rotate without a restart.
    token_env : str, optional
        The name of an environment variable holding ``name:token`` pairs separated by commas,
        read once at start.
    model_acl : mapping of str to list of str, optional
        Caller name -> model names it may use (``"*"``: all). Without it every authenticated
        caller may use every model; with it a caller not listed may use none (403).
    require_sign_off : bool, default=True
        Answer 503 for a model that is not signed off on its card (``em.signed_off_``).
    max_body_bytes : int, default=1_048_576
        Larger request bodies are refused with 413 before they are parsed (also for chunked
        bodies without a Content-Length).
    max_instances : int, default=1000
        More instances in one request are refused with 413.
    public_metrics : bool, default=False
        Serve ``/metrics`` without authentication (for a scraper inside a private network).
    workers : int, default=1
        Worker processes of :func:`~explainscore.service.serve`. More than one needs
        ``model_path`` or ``factory``: each process loads its own model.
    model_path : str, optional
        A directory written by :func:`explainscore.save`, loaded by each worker.
    factory : str, optional
        ``"package.module:function"``; the function takes no argument and returns an
        ``ExplainedModel`` or a mapping of name -> ``ExplainedModel``. Called in each worker.
    log_level : str, default="info"
        uvicorn's log level.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: dict[str, str | list[str]] | None = None
    token_file: Path | None = None
    token_env: str | None = None
    model_acl: dict[str, list[str]] | None = None
    require_sign_off: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=64)
    max_instances: int = Field(default=1000, ge=1)
    public_metrics: bool = False
    workers: int = Field(default=1, ge=1, le=64)
    model_path: str | None = None
    factory: str | None = None
    log_level: str = "info"

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, value: str | None) -> str | None:
        if value is not None and (":" not in value or value.count(":") != 1):
            raise ValueError("must look like 'package.module:function'")
        return value

    @property
    def auth_enabled(self) -> bool:
        """Whether any token source is configured."""
        return bool(self.tokens) or self.token_file is not None or self.token_env is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServiceConfig:
        """Read the settings from ``EXPLAINSCORE_SERVICE_*`` environment variables.

        ``TOKEN_FILE``, ``TOKENS`` (sets ``token_env`` to that variable's name), ``ACL`` (JSON
        object), ``REQUIRE_SIGN_OFF`` (``0``/``false`` to turn off), ``MAX_BODY_BYTES``,
        ``MAX_INSTANCES``, ``PUBLIC_METRICS``, ``WORKERS``, ``MODEL_PATH``, ``FACTORY``,
        ``LOG_LEVEL``. Keyword arguments override what the environment says.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}

        def get(key: str) -> str | None:
            value = env.get(ENV_PREFIX + key, "").strip()
            return value or None

        if (v := get("TOKEN_FILE")) is not None:
            values["token_file"] = v
        if get("TOKENS") is not None:
            values["token_env"] = ENV_PREFIX + "TOKENS"
        if (v := get("ACL")) is not None:
            try:
                values["model_acl"] = json.loads(v)
            except json.JSONDecodeError as exc:
                raise ParameterError(
                    f"{ENV_PREFIX}ACL must be a JSON object of caller name -> list of model "
                    f"names; it is not valid JSON ({exc.msg} at position {exc.pos})."
                ) from None
        for key in ("REQUIRE_SIGN_OFF", "PUBLIC_METRICS"):
            if (v := get(key)) is not None:
                values[key.lower()] = v.lower() not in ("0", "false", "no", "off")
        for key in ("MAX_BODY_BYTES", "MAX_INSTANCES", "WORKERS"):
            if (v := get(key)) is not None:
                values[key.lower()] = v
        for key in ("MODEL_PATH", "FACTORY", "LOG_LEVEL"):
            if (v := get(key)) is not None:
                values[key.lower()] = v
        values.update(overrides)
        return cls.build(**values)

    @classmethod
    def build(cls, **values: Any) -> ServiceConfig:
        """Validate ``values`` into a config, raising ParameterError naming the field."""
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors(include_input=False)[0]
            field = ".".join(str(p) for p in first["loc"]) or "config"
            raise ParameterError(
                f"The {field!r} setting of ServiceConfig is invalid: {first['msg']}."
            ) from None
