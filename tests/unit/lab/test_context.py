import stat

from pytest_oslab.lab.context import SECRET_NAMES, load_secrets


def test_secrets_are_generated_once_and_kept_0600(tmp_path):
    path = tmp_path / "etc" / "secrets.json"
    first = load_secrets(path)
    assert set(first) == set(SECRET_NAMES) and all(len(v) >= 20 for v in first.values())
    assert len(set(first.values())) == len(first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secrets(path) == first
