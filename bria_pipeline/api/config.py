"""Where the client talks to, and with which token: arguments first, then the environment.

The base URL is the API's root (``https://engine.prod.bria-api.com``); every operation carries its
own version prefix (``/v1`` or ``/v2``, as the contract's per-operation `servers` say). The names of
the environment variables are those Bria's own SDK reads.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from bria_pipeline.api.errors import ConfigError
from bria_pipeline.api.secret import Secret, check_token
from bria_pipeline.masking import TOKEN_ENV, mask_url, register, register_environment, url_secret_parts

DEFAULT_API_URL = "https://engine.prod.bria-api.com"
SANDBOX_API_URL = "http://sandbox.local"
# Sent to the sandbox when no token is given: the sandbox accepts any token, and a real one
# from the environment is never handed to a local emulator.
SANDBOX_TOKEN = "sandbox-token"

URL_ENVS = ("BRIA_API_URL", "BRIA_BASE_URL")

log = logging.getLogger("bria_pipeline.api")


@dataclass(frozen=True)
class Origin:
    """scheme://host:port: the unit the token is bound to."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = (parts.scheme or "").lower()
        default = 443 if scheme == "https" else 80
        try:
            port = parts.port or default
        except ValueError:
            port = -1
        return cls(scheme, (parts.hostname or "").lower(), port)


@dataclass(frozen=True)
class ClientConfig:
    api_url: str
    token: Secret
    sandbox: bool

    @property
    def origin(self) -> Origin:
        return Origin.of(self.api_url)


def normalize_api_url(url: str, *, source: str = "") -> str:
    """Strip trailing slashes and a trailing ``/v1`` or ``/v2``: the client adds the version.
    A URL carrying credentials, a query, a fragment or parameters is refused, shown masked."""
    text = url.strip()
    shown = mask_url(text)
    where = f" ({source})" if source else ""
    secret = url_secret_parts(text)
    if secret:
        raise ConfigError(
            f"API URL {shown}{where} carries {' and '.join(secret)}: give the API's root URL only",
            hint="e.g. https://engine.prod.bria-api.com; the token goes in BRIA_API_TOKEN, never in the URL.",
        )
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError:
        parts, hostname = None, None
    if parts is None or parts.scheme not in ("http", "https") or not hostname:
        raise ConfigError(
            f"API URL {shown}{where} is not an http(s) URL",
            hint="Give the API's root, e.g. https://engine.prod.bria-api.com (--api-url or BRIA_API_URL).",
        )
    path = parts.path.rstrip("/")
    for version in ("/v1", "/v2"):
        if path.endswith(version):
            path = path[: -len(version)]
    return f"{parts.scheme}://{parts.netloc}{path}"


def is_loopback(host: str) -> bool:
    """A host on this machine (or the in-process sandbox's name): plain http is fine there."""
    if host in ("localhost", "sandbox.local"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_config(
    api_url: str | None = None,
    token: str | Secret | None = None,
    *,
    sandbox: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Decide URL and token: explicit argument, then environment, then the default.

    In sandbox mode the token defaults to a fixed placeholder, never to BRIA_API_TOKEN, and the
    URL to http://sandbox.local (the CLI supplies the in-process transport).
    """
    env = os.environ if environ is None else environ
    sources = [("--api-url", api_url)] + [(name, env.get(name)) for name in URL_ENVS]
    for source, given in sources:  # each one given is checked, used or not: a secret in any is refused
        if given:
            normalize_api_url(given, source=source)
    url = api_url or next((env[name] for name in URL_ENVS if env.get(name)), None)
    if sandbox and not api_url:
        url = SANDBOX_API_URL
    url = normalize_api_url(url or DEFAULT_API_URL)

    register_environment(env)  # masked in every diagnostic from now on, even when it is not used or is refused
    raw = env.get(TOKEN_ENV)
    if token is None and not sandbox:
        token = raw.strip() if raw and raw.strip() else None
        if token is not None:
            check_token(token)
    if token is None or (isinstance(token, str) and not token.strip()):
        if not sandbox:
            raise ConfigError(
                "no API token: BRIA_API_TOKEN is not set",
                hint=(
                    "Export BRIA_API_TOKEN=<your token> (create one at "
                    "https://platform.bria.ai/organization-management/api-keys), "
                    "or run against the local sandbox with --sandbox."
                ),
            )
        token = SANDBOX_TOKEN
    secret = token if isinstance(token, Secret) else Secret(token.strip())
    check_token(secret.reveal(), source="the token given")
    register(secret.reveal() if secret.reveal() != SANDBOX_TOKEN else None)

    origin = Origin.of(url)
    if origin.scheme == "http" and not is_loopback(origin.host) and not sandbox:
        log.warning("the API URL %s is plain http: the token travels unencrypted", url)
    return ClientConfig(api_url=url, token=secret, sandbox=sandbox)
