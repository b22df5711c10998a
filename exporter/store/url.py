"""Where the store lives: the configured `store.url` as a SQLAlchemy URL, the
default SQLite file in the data directory, and the URL as it may be shown (no password).

    sqlite:///PATH               sqlite3; the parent directory is created
    postgresql://USER@HOST/DB    asyncpg; the password from the URL or `password_file`
    memory                       SQLite in memory: gone when the process ends
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from exporter.config import Store

DATA_DIR_VAR = "CHATCANARY_DATA_DIR"
FILENAME = "chatcanary.db"


class URLError(ValueError):
    """A store URL that cannot be used; the message never holds the password."""


@dataclass(frozen=True)
class Location:
    url: URL  # with the driver, and the password where one is given
    memory: bool = False

    @property
    def engine(self) -> str:
        """sqlite or postgresql."""
        return self.url.get_backend_name()

    @property
    def path(self) -> Path | None:
        """The SQLite file; None for PostgreSQL and memory."""
        if self.memory or self.engine != "sqlite" or not self.url.database:
            return None
        return Path(self.url.database)

    def shown(self) -> str:
        """The URL fit for logs and errors: the password masked, the driver left out."""
        if self.memory:
            return "memory"
        plain = self.url.set(drivername=self.engine)
        return plain.render_as_string(hide_password=True)


def data_dir(given: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """`--data-dir`, else $CHATCANARY_DATA_DIR, else $XDG_STATE_HOME/chatcanary, else
    ~/.local/state/chatcanary (the image sets CHATCANARY_DATA_DIR=/var/lib/chatcanary)."""
    env = os.environ if environ is None else environ
    if given is not None:
        return given
    if env.get(DATA_DIR_VAR):
        return Path(env[DATA_DIR_VAR])
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "chatcanary"


def locate(settings: Store, default_dir: Path) -> Location:
    """The configured store, or the SQLite file in `default_dir` when no url is set."""
    if settings.url is None:
        return Location(URL.create("sqlite+pysqlite", database=str(default_dir / FILENAME)))
    text = settings.url.get_secret_value()
    if text == "memory":
        return Location(URL.create("sqlite+pysqlite", database=":memory:"), memory=True)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise URLError(
            "store url is not a valid URL (sqlite:///PATH or postgresql://...)"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise URLError("a sqlite store url needs a file path (or use `url: memory`)")
        return Location(url.set(drivername="sqlite+pysqlite"))
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
        if settings.password_file is not None:
            password = settings.password_file.read_text(encoding="utf-8").strip()
            url = url.set(password=password)
        return Location(url)
    raise URLError(f"store url scheme {backend!r} is not supported (sqlite or postgresql)")
