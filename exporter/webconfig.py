"""The web config file (`--web.config.file`): TLS and authentication for every endpoint,
in the spirit of Prometheus's exporter-toolkit file.

```yaml
tls_server_config:
  cert_file: /etc/chatcanary/tls.crt
  key_file: /etc/chatcanary/tls.key
basic_auth_users:                 # user: password hash (see exporter/passwords.py)
  alice: pbkdf2_sha256$600000$c2FsdA$...
bearer_tokens: ["${CHATCANARY_READ_TOKEN}"]
write:                            # POST endpoints take these credentials instead
  bearer_tokens: ["${CHATCANARY_WRITE_TOKEN}"]
```

Top-level credentials guard every endpoint; `write` (optional) replaces them for the
state-changing ones (run now, feedback, reload). With neither, the endpoint is open; a
`write` block without credentials is refused (it would open the writes silently).
Passwords are stored as salted PBKDF2-SHA256 hashes, never in clear; checking one runs on
a small pool of its own, bounded and rate limited per client (exporter/web/auth.py).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exporter import yamlsource
from exporter.checkspecs import Strict, matching
from exporter.config import ConfigError, describe
from exporter.passwords import SCHEME, parse_hash
from exporter.passwords import hash_password as hash_password  # where 0.1.0 had them
from exporter.passwords import verify_password as verify_password


def _a_hash(encoded: str) -> str:
    try:
        parse_hash(encoded)
    except ValueError:
        raise ValueError(
            f"passwords are stored as {SCHEME}$ITERATIONS$SALT$HASH hashes (docs: web-and-apis)"
        ) from None
    return encoded


PasswordHash = Annotated[str, AfterValidator(_a_hash)]
UserName = Annotated[str, matching(r"[^:]+\Z", "user names cannot contain ':'")]


class Credentials(Strict):
    basic_auth_users: dict[UserName, PasswordHash] = Field(default_factory=dict)
    bearer_tokens: list[SecretStr] = Field(default_factory=list)

    @field_validator("bearer_tokens")
    @classmethod
    def _long_enough(cls, tokens: list[SecretStr]) -> list[SecretStr]:
        if any(len(t.get_secret_value()) < 16 for t in tokens):
            raise ValueError("bearer tokens must have at least 16 characters")
        return tokens

    @property
    def required(self) -> bool:
        return bool(self.basic_auth_users or self.bearer_tokens)


class TLSServerConfig(Strict):
    cert_file: Path
    key_file: Path


class WebConfig(Credentials):
    tls_server_config: TLSServerConfig | None = None
    write: Credentials | None = None

    @field_validator("write")
    @classmethod
    def _write_guarded(cls, write: Credentials | None, info: ValidationInfo) -> Credentials | None:
        if write is not None and not write.required:
            reads = info.data.get("basic_auth_users") or info.data.get("bearer_tokens")
            opens = "while reads need credentials" if reads else "as every other endpoint"
            raise ValueError(
                f"a `write` block without credentials opens run now, feedback and reload "
                f"to anyone {opens}; give it basic_auth_users or bearer_tokens, or remove it"
            )
        return write

    @model_validator(mode="after")
    def _tls_loads(self) -> WebConfig:
        self.ssl_context()  # a bad certificate fails at start, not at the first request
        return self

    def credentials(self, write: bool) -> Credentials:
        return self.write if write and self.write is not None else self

    def ssl_context(self) -> ssl.SSLContext | None:
        tls = self.tls_server_config
        if tls is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load the TLS certificate and key: {exc}") from None
        return context


def load_web_config(path: str | Path, environ: Mapping[str, str] | None = None) -> WebConfig:
    """Raises ConfigError naming the file, the line and the key of each problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read web config: {exc.strerror}"]) from None
    try:
        source = yamlsource.load(text, str(path), environ)
    except yamlsource.SourceError as exc:
        raise ConfigError(exc.messages) from None
    data: Any = {} if source.data is None else source.data
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the web config must be a mapping"])
    try:
        return WebConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([describe(source.where, e) for e in exc.errors()]) from None
