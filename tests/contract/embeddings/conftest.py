from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.embeddings.fake_server import dummy_aws_environment


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    yield from dummy_aws_environment(monkeypatch, tmp_path)
