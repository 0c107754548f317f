"""The seed fixtures are verbatim excerpts: re-extracting them from the notebooks gives the same bytes."""
import importlib.util
import pathlib

import pytest


DATA = pathlib.Path(__file__).resolve().parents[2] / "data"
SEEDS = DATA.parents[2] / "shared" / "seeds"
if not SEEDS.is_dir():
    SEEDS = pathlib.Path("/work/shared/seeds")


def _extractor():
    spec = importlib.util.spec_from_file_location("extract_seeds", DATA / "capture" / "extract-seeds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed notebooks (shared/seeds) are not beside the repository")
def test_seed_fixtures_match_the_notebooks():
    extractor = _extractor()
    notebooks = {p.name[:3]: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    for name, seed, marker, nth, how in extractor.EXCERPTS:
        expected = extractor.excerpt(notebooks[seed], marker, nth, how)
        assert (DATA / "seeds" / name).read_text(encoding="utf-8") == expected, name


def test_every_seed_fixture_is_listed_in_the_extractor():
    listed = {entry[0] for entry in _extractor().EXCERPTS}
    assert {p.name for p in (DATA / "seeds").iterdir()} == listed


def test_every_captured_directory_is_described_in_the_readme():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for directory in sorted(p for p in (DATA / "captured").iterdir() if p.is_dir()):
        assert f"## captured/{directory.name}/" in readme, directory
