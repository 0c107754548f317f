import pathlib

import pytest

DATA = pathlib.Path(__file__).resolve().parents[2] / "data"


@pytest.fixture
def data():
    """``data("seeds/001-dhcp-host")`` -> the fixture's text (``data(..., binary=True)`` for bytes)."""
    def read(name, binary=False):
        path = DATA / name
        return path.read_bytes() if binary else path.read_text(encoding="utf-8")
    return read
