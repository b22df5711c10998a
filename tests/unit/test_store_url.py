"""Where the store lives (exporter.store.url): the URL forms of `store.url` through the
config loader, `password_file` and `${VAR}`, the data directory, and the password never
shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from exporter.config import ConfigError, Store, parse_config
from exporter.store import URLError, data_dir, locate

CONFIG = """\
targets:
  - name: local
    protocol: openai
    base_url: http://127.0.0.1:8000/v1
    model: m
canaries:
  - name: a
    messages: [{role: user, content: hi}]
store:
"""
STORE_LINE = 10  # the line of `store:`'s first key in CONFIG + the store lines
SECRET = "s3cret-p@ss/w:rd"  # characters a URL would need to escape


def store_of(lines: str, environ: dict[str, str] | None = None) -> Store:
    return parse_config(CONFIG + lines, "c.yaml", environ or {}).store


def config_errors(lines: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG + lines, "c.yaml", environ or {})
    return caught.value.messages


def test_sqlite_url_is_the_file_through_the_standard_sqlite3(tmp_path: Path) -> None:
    where = locate(store_of(f"  url: sqlite:///{tmp_path}/kept/cc.db\n"), tmp_path / "unused")
    assert where.engine == "sqlite" and not where.memory
    assert where.url.drivername == "sqlite+pysqlite"
    assert where.path == tmp_path / "kept" / "cc.db"
    assert where.shown() == f"sqlite:///{tmp_path}/kept/cc.db"


def test_no_url_is_chatcanary_db_in_the_data_directory(tmp_path: Path) -> None:
    where = locate(Store(), tmp_path)
    assert where.path == tmp_path / "chatcanary.db"
    assert where.url.drivername == "sqlite+pysqlite"


def test_the_data_directory_flag_then_environment_then_xdg_then_home() -> None:
    given = Path("/given")
    env = {"CHATCANARY_DATA_DIR": "/from/env", "XDG_STATE_HOME": "/xdg"}
    assert data_dir(given, env) == given
    assert data_dir(None, env) == Path("/from/env")
    assert data_dir(None, {"XDG_STATE_HOME": "/xdg"}) == Path("/xdg/chatcanary")
    assert data_dir(None, {"CHATCANARY_DATA_DIR": ""}) == Path.home() / ".local/state/chatcanary"


def test_memory_is_sqlite_in_memory() -> None:
    where = locate(store_of("  url: memory\n"), Path("/unused"))
    assert where.memory and where.path is None and where.shown() == "memory"
    assert where.url.database == ":memory:"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_urls_use_asyncpg(scheme: str) -> None:
    where = locate(store_of(f"  url: {scheme}://cc@db.example:5433/canary\n"), Path("/unused"))
    assert where.engine == "postgresql" and where.path is None
    assert where.url.drivername == "postgresql+asyncpg"
    assert (where.url.host, where.url.port, where.url.database) == ("db.example", 5433, "canary")
    assert where.shown() == "postgresql://cc@db.example:5433/canary"


def test_password_file_gives_the_password_and_shown_never_has_it(tmp_path: Path) -> None:
    secret = tmp_path / "pg-password"
    secret.write_text(SECRET + "\n", encoding="utf-8")  # the trailing newline is dropped
    settings = store_of(f"  url: postgresql://cc@db:5432/canary\n  password_file: {secret}\n")
    where = locate(settings, Path("/unused"))
    assert where.url.password == SECRET
    assert SECRET not in where.shown() and "***" in where.shown()
    assert SECRET not in repr(where) and SECRET not in repr(settings)


def test_var_in_the_url_is_interpolated_and_never_shown() -> None:
    settings = store_of("  url: postgresql://cc:${PGPASSWORD}@db/canary\n", {"PGPASSWORD": "pw42x"})
    assert "pw42x" not in repr(settings) and "pw42x" not in str(settings.model_dump())
    where = locate(settings, Path("/unused"))
    assert where.url.password == "pw42x"
    assert where.shown() == "postgresql://cc:***@db/canary"


def test_an_unset_var_names_the_yaml_line() -> None:
    (message,) = config_errors("  url: postgresql://cc:${PGPASSWORD}@db/canary\n")
    assert message.startswith(f"c.yaml:{STORE_LINE}:") and "PGPASSWORD" in message


@pytest.mark.parametrize(
    ("lines", "line", "wanted"),
    [
        ("  url: mysql://cc:pw9@db/canary\n", STORE_LINE, "store url must be sqlite:///PATH"),
        ("  url: 'sqlite://'\n", STORE_LINE, "needs a file path"),
        ("  url: postgresql://cc:pw9@db:notaport/x\n", STORE_LINE, "port that is not a number"),
        ("  url: postgresql://cc:pw9@db:99999/x\n", STORE_LINE, "port that is not a number"),
        ("  url: sqlite:///x.db\n  password_file: /etc/hostname\n", 9, "goes with a postgresql"),
        (
            "  url: postgresql://cc@db/x\n  password_file: /no/such/file\n",
            9,
            "cannot read password_file",
        ),
        ("  uri: sqlite:///x.db\n", STORE_LINE, "uri"),
    ],
)
def test_bad_store_settings_name_the_yaml_line_and_not_the_password(
    lines: str, line: int, wanted: str
) -> None:
    (message,) = config_errors(lines)
    assert message.startswith(f"c.yaml:{line}: store"), message
    assert wanted in message and "pw9" not in message


def test_locate_refuses_what_the_config_let_through_without_the_password() -> None:
    # Built without validation: locate still refuses what it cannot use.
    with pytest.raises(URLError, match="not supported") as caught:
        locate(Store.model_construct(url=SecretStr("oracle://cc:pw9@db/x")), Path("/unused"))
    assert "pw9" not in str(caught.value)
    with pytest.raises(URLError, match="needs a file path"):
        locate(Store.model_construct(url=SecretStr("sqlite:///:memory:")), Path("/unused"))
