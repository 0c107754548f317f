"""``oslab lab down --purge``: forget the lab's data so the next ``up`` starts from scratch.

Only what the lab made goes: its databases, the services' data directories' contents, Keystone's keys, the
lab's state, secrets and image cache, and the ``lab``/``lab-admin`` (and ``--profile devstack``'s) entries of
clouds.yaml and secure.yaml.
Debian packages and other clouds' entries stay.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import List

import yaml

from .databases import DATABASES
from .identity import CLOUDS_DIR
from . import daemons
from .services import infrastructure
from .steps import LabError

DATA_DIRS = ("/var/lib/glance/images", "/var/lib/nova/instances", "/var/lib/neutron/dhcp",
             "/var/lib/neutron/external", "/etc/keystone/fernet-keys", "/etc/keystone/credential-keys",
             "/var/lib/ovn")  # OVN's northbound and southbound databases
DATA_FILES = ("/etc/openvswitch/conf.db",)  # Open vSwitch's database: bridges, ports, chassis ids
LAB_CLOUDS = ("lab", "lab-admin", "devstack", "devstack-admin")  # the last two: --profile devstack


def purge_data(lab) -> List[str]:
    """Drop the lab's databases; MariaDB is started for it when it does not run (as in a new session), and the
    caller stops it afterwards with the other daemons. The services must be stopped first: an idle connection's
    open transaction would keep DROP DATABASE waiting on its metadata lock."""
    mariadb = next(d for d in infrastructure(lab) if d.name == "mariadb")
    if not (daemons.recorded_pid(mariadb, lab.pids) and daemons.is_ready(mariadb)):
        daemons.start(mariadb, lab.pids)
        daemons.wait_ready(mariadb, lab.pids)
    sql = "".join(f"DROP DATABASE IF EXISTS {db};" for db in DATABASES)
    proc = subprocess.run(["mysql"], input=sql, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise LabError(f"dropping the lab's databases failed: {proc.stderr.strip()[-300:]}")
    return ["databases"]


def purge_files(lab) -> List[str]:
    done = []
    for d in DATA_DIRS:
        path = Path(d)
        if path.is_dir():
            for child in path.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            done.append(d)
    for f in DATA_FILES:
        if Path(f).exists():
            Path(f).unlink()
            done.append(f)
    for d in (lab.state, lab.root / "image", lab.etc):
        if d.exists():
            shutil.rmtree(d)
            done.append(str(d))
    for name in ("clouds.yaml", "secure.yaml"):
        path = CLOUDS_DIR / name
        if path.exists():
            data = yaml.safe_load(path.read_text()) or {}
            clouds = data.get("clouds", {})
            if any(c in clouds for c in LAB_CLOUDS):
                for c in LAB_CLOUDS:
                    clouds.pop(c, None)
                path.write_text(yaml.safe_dump(data, default_flow_style=False, sort_keys=False))
                done.append(f"{path} lab entries")
    return done
