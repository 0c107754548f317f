import os

import pytest
import yaml

PASSWORD = "Pw-s3cr3t-never-shown-91f2"


@pytest.fixture
def clouds(tmp_path, monkeypatch):
    """``clouds({...})`` writes a clouds.yaml (and an empty secure.yaml) that openstacksdk finds first, and
    clears OS_* variables, so the machine's own clouds never leak in. Returns the clouds.yaml path."""
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    secure = tmp_path / "secure.yaml"
    secure.write_text("clouds: {}\n")
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(secure))

    def write(entries=None, text=None):
        path = tmp_path / "clouds.yaml"
        path.write_text(text if text is not None else yaml.safe_dump({"clouds": entries or {}}))
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
        return path
    return write


@pytest.fixture
def closed_port_cloud():
    """``closed_port_cloud(oslab=None, password=...)`` -> a clouds.yaml entry (see ``_closed_port_cloud``)."""
    return _closed_port_cloud


def _closed_port_cloud(oslab=None, password=PASSWORD):
    """A cloud entry whose auth URL is a closed local port: authenticating fails at once, no cloud involved."""
    entry = {"auth": {"auth_url": "http://127.0.0.1:9/v3", "username": "u", "password": password,
                      "project_name": "p", "user_domain_name": "Default", "project_domain_name": "Default"},
             "region_name": "RegionOne"}
    if oslab is not None:
        entry["oslab"] = oslab
    return entry
