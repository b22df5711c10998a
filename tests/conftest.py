"""For every test: the default data directory is a temporary one, so no test (nor any
`chatcanary run` it starts, which inherits the environment) touches the real one."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["CHATCANARY_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
