"""The lab's databases, message-queue account and schemas.

Existing data is always reused: a lab whose processes are gone (after a reboot) comes back with the same
databases and cells, so nova's instance numbering never restarts and collides with libvirt domains.
"""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .daemons import run_as
from .steps import LabError, Step

DATABASES = ("keystone", "glance", "placement", "nova_api", "nova", "nova_cell0", "neutron")
RABBITMQCTL = ["rabbitmqctl", "-n", "rabbit@localhost"]


def _mysql(sql: str) -> str:
    proc = subprocess.run(["mysql", "-N", "-B"], input=sql, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"mysql: {proc.stderr.strip()[:200]}", log="/var/log/oslab/mariadb.log")
    return proc.stdout


def _sql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class DatabasesStep(Step):
    """Databases and the lab's SQL user, and RabbitMQ's `openstack` user; passwords go by stdin only."""

    name = "databases"

    def done(self, lab) -> bool:
        have = set(_mysql("SHOW DATABASES").split())
        if not set(DATABASES) <= have:
            return False
        check = subprocess.run(["mysql", "-N", "-B", "-h", "127.0.0.1", "-u", "oslab", "-e", "SELECT 1"],
                               env={"MYSQL_PWD": lab.secrets["db"], "PATH": "/usr/bin:/bin"},
                               capture_output=True, text=True)
        if check.returncode != 0:
            return False
        users = subprocess.run(RABBITMQCTL + ["list_users", "-q"], capture_output=True, text=True).stdout
        return any(line.split()[:1] == ["openstack"] for line in users.splitlines())

    def run(self, lab) -> None:
        pw = _sql_quote(lab.secrets["db"])
        sql = [f"CREATE DATABASE IF NOT EXISTS {db};" for db in DATABASES]
        for host in ("localhost", "127.0.0.1"):
            sql += [f"CREATE USER IF NOT EXISTS 'oslab'@'{host}' IDENTIFIED BY {pw};",
                    f"ALTER USER 'oslab'@'{host}' IDENTIFIED BY {pw};",
                    f"GRANT ALL PRIVILEGES ON *.* TO 'oslab'@'{host}';"]
        _mysql("\n".join(sql) + "\nFLUSH PRIVILEGES;\n")
        log = lab.logs / "rabbitmq-setup.log"
        users = run_as("root", RABBITMQCTL + ["list_users", "-q"], log=log, what="rabbitmqctl list_users")
        if not any(line.split()[:1] == ["openstack"] for line in users.splitlines()):
            run_as("root", RABBITMQCTL + ["add_user", "openstack"], input=lab.secrets["rabbit"] + "\n", log=log,
                   what="rabbitmqctl add_user")
        run_as("root", RABBITMQCTL + ["change_password", "openstack"], input=lab.secrets["rabbit"] + "\n", log=log,
               what="rabbitmqctl change_password")
        run_as("root", RABBITMQCTL + ["set_permissions", "openstack", ".*", ".*", ".*"], log=log,
               what="rabbitmqctl set_permissions")


def _sync_commands(lab):
    neutron = ["neutron-db-manage", "--config-file", "/etc/neutron/neutron.conf",
               "--config-file", "/etc/neutron/plugins/ml2/ml2_conf.ini", "upgrade", "heads"]
    nova = [
        ["nova-manage", "api_db", "sync"],
        ["nova-manage", "cell_v2", "map_cell0"],
        ["sh", "-c", "nova-manage cell_v2 list_cells | grep -q ' cell1 ' || nova-manage cell_v2 create_cell --name=cell1"],
        ["nova-manage", "db", "sync"],
    ]
    return {
        "keystone": [["keystone-manage", "db_sync"]],
        "glance": [["glance-manage", "db_sync"]],
        "placement": [["placement-manage", "db", "sync"]],
        "nova": nova,
        "neutron": [neutron],
    }


class SchemaStep(Step):
    """Every service's `db sync`, the services in parallel; done when each recorded its sync."""

    name = "db-sync"

    def done(self, lab) -> bool:
        return all(lab.marker(f"dbsync-{svc}").exists() for svc in _sync_commands(lab))

    def run(self, lab) -> None:
        def sync(item):
            svc, commands = item
            if lab.marker(f"dbsync-{svc}").exists():
                return
            for argv in commands:
                run_as(svc, argv, log=lab.logs / f"dbsync-{svc}.log", what=f"{svc} {' '.join(argv[-3:])}")
            lab.marker(f"dbsync-{svc}").write_text("ok\n")

        with ThreadPoolExecutor(max_workers=5) as pool:
            list(pool.map(sync, _sync_commands(lab).items()))


class KeystoneSetupStep(Step):
    """Fernet and credential keys, and `keystone-manage bootstrap` (admin password from the environment)."""

    name = "keystone-bootstrap"

    def done(self, lab) -> bool:
        return (Path("/etc/keystone/fernet-keys/0").exists() and Path("/etc/keystone/credential-keys/0").exists()
                and lab.marker("keystone-bootstrap").exists())

    def run(self, lab) -> None:
        log = lab.logs / "keystone-manage.log"
        for what in ("fernet_setup", "credential_setup"):
            run_as("root", ["keystone-manage", what, "--keystone-user", "keystone", "--keystone-group", "keystone"],
                   log=log, what=f"keystone-manage {what}")
        url = "http://127.0.0.1:5000/v3/"
        run_as("keystone", ["keystone-manage", "bootstrap", "--bootstrap-admin-url", url, "--bootstrap-internal-url", url,
                        "--bootstrap-public-url", url, "--bootstrap-region-id", "RegionOne"],
               env={"OS_BOOTSTRAP_PASSWORD": lab.secrets["admin"]}, log=log, what="keystone-manage bootstrap")
        lab.marker("keystone-bootstrap").write_text("ok\n")
