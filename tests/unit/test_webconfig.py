"""The web config file: exporter/webconfig.py — the guard, loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import ConfigError
from exporter.passwords import hash_password
from exporter.webconfig import WebConfig, load_web_config

FAST = 1000  # iterations: enough to test the scheme, quick enough for a unit test
TOKEN = "read-token-0123456789"
WRITE_TOKEN = "write-token-0123456789"


def test_write_credentials_replace_the_top_level_ones_for_writes() -> None:
    config = WebConfig.model_validate(
        {"bearer_tokens": [TOKEN], "write": {"bearer_tokens": [WRITE_TOKEN]}}
    )
    assert config.credentials(False).bearer_tokens[0].get_secret_value() == TOKEN
    assert config.credentials(True).bearer_tokens[0].get_secret_value() == WRITE_TOKEN
    only_reads = WebConfig.model_validate({"bearer_tokens": [TOKEN]})
    assert only_reads.credentials(True) is only_reads


def test_loading_reads_the_environment_and_hides_tokens(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text('bearer_tokens: ["${TOKEN}"]\n')
    config = load_web_config(path, {"TOKEN": TOKEN})
    assert config.bearer_tokens[0].get_secret_value() == TOKEN
    assert TOKEN not in repr(config) and TOKEN not in str(config.model_dump())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "basic_auth_users:\n  alice: hunter2\n",
            "web.yml:2: basic_auth_users.alice: passwords are",
        ),
        ("bearer_tokens: [short]\n", "bearer tokens must have at least 16 characters"),
        ("tls_server_config: {cert_file: /nope.crt, key_file: /nope.key}\n", "cannot load the"),
        ("write:\n  bearer_token: [x]\n", "web.yml:2: write.bearer_token: unknown key"),
        (
            f"basic_auth_users:\n  'al:ice': {hash_password('pw', iterations=FAST)}\n",
            "web.yml:2: basic_auth_users.al:ice: user names cannot contain ':'",
        ),
        ("[1, 2]\n", "the web config must be a mapping"),
        ("a: [\n", "web.yml"),
        (  # reads need a token, writes would need nothing: refused, not opened silently
            f"bearer_tokens: [{TOKEN}]\nwrite: {{}}\n",
            "web.yml:2: write: a `write` block without credentials opens run now,"
            " feedback and reload to anyone while reads need credentials",
        ),
        ("write:\n  bearer_tokens: []\n", "web.yml:1: write: a `write` block without"),
    ],
)
def test_bad_files_name_the_line_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    assert message in str(caught.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read web config"):
        load_web_config(tmp_path / "absent.yml")
