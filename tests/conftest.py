"""For every test: the default data directory is the test's own temporary one, so no test
(nor any `chatcanary run` it starts, which inherits the environment) touches the real one
or another test's store."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATCANARY_DATA_DIR", str(tmp_path / "data"))
