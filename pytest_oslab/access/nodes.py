"""testinfra hosts for the cloud's nodes: one connection per node for the whole run, checked once.

The first use of a node connects and proves two things with a bounded wait: the node answers (``true``) and,
when root commands go through sudo, that sudo works without a password (``sudo -n true``, or ``sudo -S`` with
the inventory's become password). A failure is one ``NodeError`` line (a missing key file, a node silent for N s,
unreachable, wrong user or key, a host key refused, sudo refused) remembered for the rest of the run, so later
tests fail at once with the same line instead of waiting again. Every command after that is bounded
(``access.backends``).
"""
from __future__ import annotations

import getpass
import os
import shlex
import threading
from typing import Callable, Dict, List, Optional, Tuple

import paramiko
import testinfra
import testinfra.host

from pytest_oslab.access import backends, deployment, ssh
from pytest_oslab.access.inventory import UNCONFIGURED, Inventory, Node

SSH_CLIENTS = ("paramiko", "openssh")


class NodeError(Exception):
    """A node that cannot be used; the message is one line naming the node and the cause."""


class NodeNotConfigured(NodeError):
    """A node known only from the API (no clouds.yaml entry, no inventory) that the defaults do not reach: what
    needs it cannot be judged until the operator says how to reach it (a skip, not the cloud's failure)."""


def host_spec(node: Node, default_user: Optional[str], default_key: Optional[str],
              timeout: float) -> Tuple[str, dict, bool]:
    """(testinfra spec, keyword args, uses sudo) for a node. SSH nodes use paramiko: one transport, reused."""
    spec = node.host or f"ssh://{node.name}"
    if "://" not in spec:
        spec = f"ssh://{spec}"
    scheme, rest = spec.split("://", 1)
    if scheme == "local":
        sudo = node.sudo if node.sudo is not None else os.geteuid() != 0
        return "local://", {"sudo": sudo}, sudo
    if scheme not in ("ssh", "paramiko"):
        sudo = bool(node.sudo)
        return spec, {"sudo": sudo}, sudo
    rest = rest.split("?", 1)[0]
    userpart, _, address = rest.rpartition("@")
    user = node.user or userpart or default_user or getpass.getuser()
    if node.port and ":" not in address:
        address = f"{address}:{node.port}"
    sudo = node.sudo if node.sudo is not None else user != "root"
    kwargs = {"sudo": sudo, "timeout": int(max(1, timeout))}
    key = node.key or default_key
    if key:
        kwargs["ssh_identity_file"] = os.path.expanduser(key)
    return f"paramiko://{user + '@' if user else ''}{address}", kwargs, sudo


class NodePool:
    """testinfra hosts by node name, made and checked on first use, kept for the run; bastions shared.

    ``timeout`` bounds connecting (--oslab-ssh-timeout), ``command_timeout`` each command
    (--oslab-command-timeout). SSH nodes are reached as ssh_config says (HostName, User, Port, IdentityFile,
    ProxyJump, ProxyCommand, UserKnownHostsFile) unless the node's entry says otherwise; ``bastion`` is the
    ProxyJump of nodes that name none. ``client`` is ``paramiko`` (one transport per node) or ``openssh``
    (testinfra's ``ssh`` backend: OpenSSH itself, one ControlMaster per node).
    """

    def __init__(self, inventory: Inventory, timeout: float, command_timeout: float = 60.0,
                 host_key_policy: str = "accept-new", ssh_config: Optional[str] = None, client: str = "paramiko",
                 bastion: Optional[str] = None, progress: Callable[[str], None] = lambda line: None,
                 deployments: deployment.DeploymentConfig = deployment.DeploymentConfig()):
        if host_key_policy not in ssh.HOST_KEY_POLICIES:
            raise NodeError(f"host key policy {host_key_policy!r}: expected one of {', '.join(ssh.HOST_KEY_POLICIES)}")
        if client not in SSH_CLIENTS:
            raise NodeError(f"SSH client {client!r}: expected one of {', '.join(SSH_CLIENTS)}")
        self.inventory = inventory
        self.timeout = timeout
        self.command_timeout = command_timeout
        self.host_key_policy = host_key_policy
        self.ssh_config_path = ssh_config
        self.client = client
        self.bastion = bastion
        self.progress = progress
        self.deployments = deployments
        self._ssh_config = None
        self._hosts: Dict[str, object] = {}
        self._deployed: Dict[str, deployment.DeployedHost] = {}
        self._errors: Dict[str, NodeError] = {}
        self._sudo: Dict[str, bool] = {}
        self._bastions: Dict[str, object] = {}
        self._lock = threading.RLock()

    def uses_sudo(self, node: Node) -> bool:
        return self._sudo.get(node.name, False)

    def host(self, node: Node) -> deployment.DeployedHost:
        """The testinfra host of ``node``, its tools placed as its deployment does (``access.deployment``);
        NodeError (one line) when it cannot be reached or sudo is refused."""
        with self._lock:
            if node.name in self._errors:
                known = self._errors[node.name]
                raise type(known)(str(known))
            if node.name not in self._hosts:
                try:
                    self._hosts[node.name] = self._connect(node)
                except NodeError as e:
                    if node.source == UNCONFIGURED:
                        e = NodeNotConfigured(f"{e}; say how to reach it in clouds.yaml (oslab.nodes), an inventory "
                                              f"(--oslab-inventory) or ssh_config (--oslab-node-user and "
                                              f"--oslab-node-key for every node)")
                    self._errors[node.name] = e
                    raise e from None
                self._deployed[node.name] = deployment.DeployedHost(
                    self._hosts[node.name], node.name, self.deployments.for_node(node.name))
            return self._deployed[node.name]

    def layouts(self) -> Dict[str, str]:
        """How each node reached so far places its tools, one line per node (for the report)."""
        with self._lock:
            hosts = dict(self._deployed)
        shown = {}
        for name, host in sorted(hosts.items()):
            try:
                shown[name] = host.layout().describe()
            except Exception as e:  # the report never fails on a node gone since
                shown[name] = f"? ({type(e).__name__}: {str(e)[:120]})"
        return shown

    # --- how to reach a node -------------------------------------------------------------------------------------
    def ssh_config(self):
        if self._ssh_config is None:
            try:
                self._ssh_config = ssh.ssh_config(self.ssh_config_path)
            except ssh.SSHError as e:
                raise NodeError(str(e)) from None
        return self._ssh_config

    def target(self, node: Node) -> ssh.Target:
        """Where ``node`` is and how to log in: its entry first, then ssh_config, then the run's defaults."""
        spec = node.host or f"ssh://{node.name}"
        rest = spec.split("://", 1)[1] if "://" in spec else spec
        user, address, port = ssh.parse_hop(rest.split("?", 1)[0])
        jump = list(node.jump) or ([] if node.proxy_command else None)
        target = ssh.resolve(address, self.ssh_config(), port=node.port or port, user=node.user or user,
                             key=node.key, jump=jump, proxy_command=node.proxy_command,
                             default_user=self.inventory.default_user, default_key=self.inventory.default_key)
        if not target.user:
            target.user = getpass.getuser()
        if self.bastion and not (target.jump or target.proxy_command):
            target.jump = self.bastion.split(",")
        return target

    def bastion_client(self, chain: str):
        """The connected client of the last bastion of ``chain`` (``a,b``: b reached through a); one per run."""
        with self._lock:
            if chain not in self._bastions:
                *before, last = chain.split(",")
                user, address, port = ssh.parse_hop(last)
                target = ssh.resolve(address, self.ssh_config(), port=port, user=user, jump=before or None,
                                     default_user=self.inventory.default_user,
                                     default_key=self.inventory.default_key)
                try:
                    self._bastions[chain] = ssh.connect(target, self.timeout, self.host_key_policy,
                                                        self.bastion_client)
                except ssh.SSHError as e:
                    raise ssh.SSHError(f"bastion {last}: {e}") from None
            return self._bastions[chain]

    def _connect(self, node: Node):
        spec, kwargs, sudo = host_spec(node, self.inventory.default_user, self.inventory.default_key, self.timeout)
        bound = self.command_timeout
        if spec.startswith("local://"):
            backend, shown = backends.BoundedLocal(node.name, bound), "local://"
        elif spec.startswith("paramiko://"):
            target = self.target(node)
            shown = f"ssh://{target}"
            sudo = node.sudo if node.sudo is not None else target.user != "root"  # the user ssh_config may name

            def connect():
                try:
                    return ssh.connect(target, self.timeout, self.host_key_policy, self.bastion_client)
                except ssh.SSHError as e:
                    raise ssh.SSHError(f"node {node.name} ({shown}, from {node.source}): {e}") from None
            if self.client == "openssh":
                backend = backends.BoundedOpenSSH(
                    f"{target.user}@{target.host}:{target.port}", node.name, bound,
                    ssh_identity_file=os.path.expanduser(target.key) if target.key else None,
                    timeout=int(max(1, self.timeout)), ssh_config=self.ssh_config_path,
                    ssh_extra_args=self.openssh_args(target))
            else:
                backend = backends.BoundedParamiko(f"{target.user}@{target.host}:{target.port}", node.name, bound,
                                                   connect, progress=self.progress)
        else:  # other testinfra backends (docker://, ...) as testinfra makes them: not bounded
            return testinfra.get_host(spec, **kwargs)
        backend.sudo_password = node.sudo_password
        host = testinfra.host.Host(backend)
        backend.set_host(host)
        try:
            answer = host.run("true")
            if answer.rc != 0:
                raise NodeError(f"node {node.name} ({shown}): 'true' exited {answer.rc}: "
                                f"{answer.stderr.strip()[:200]}")
            if sudo:
                backend.sudo = True
                check = host.run("true")
                if check.rc != 0:
                    reason = (check.stderr.strip().splitlines() or ["exit %d" % check.rc])[-1]
                    needs = "the become password" if node.sudo_password else "passwordless sudo"
                    raise NodeError(f"node {node.name} ({shown}): sudo refused: {reason} "
                                    f"(root commands need {needs})")
        except (NodeError, ssh.CommandTimeout) as e:
            backend.sudo = False
            raise NodeError(str(e)) from None
        except ssh.SSHError as e:  # already one line naming the node
            raise NodeError(str(e)) from None
        backend.sudo = sudo
        self._sudo[node.name] = sudo
        return host

    def openssh_args(self, target: ssh.Target) -> str:
        """OpenSSH options for ``target``: no prompts, the host-key policy, its bastions."""
        checking = {"accept-new": "accept-new", "strict": "yes", "ignore": "no"}[self.host_key_policy]
        keys = ["-o BatchMode=yes", f"-o StrictHostKeyChecking={checking}"]
        if self.host_key_policy == "ignore":
            keys.append("-o UserKnownHostsFile=/dev/null")
        if self.ssh_config_path:
            keys.append(f"-F {shlex.quote(os.path.expanduser(self.ssh_config_path))}")
        args = keys + ["-o ControlMaster=auto", "-o ControlPersist=60s", f"-o ControlPath={_control_path()}"]
        if target.jump:  # ssh -J would not pass the host-key options on to the bastion's ssh: say them ourselves
            *before, last = target.jump
            earlier = [f"-J {','.join(before)}"] if before else []
            user, address, port = ssh.parse_hop(last)
            hop = ([f"-p {port}"] if port else []) + [f"{user + '@' if user else ''}{address}"]
            proxy = " ".join(["ssh"] + keys + earlier + ["-W %h:%p"] + hop)
            args.append(f"-o ProxyCommand={shlex.quote(proxy)}")
        elif target.proxy_command:
            args.append(f"-o ProxyCommand={shlex.quote(target.proxy_command)}")
        return " ".join(args)

    def relay_command(self, node: Node, namespace: str, ip: str, port: int = 22) -> str:
        """A command run on ``node`` that joins its stdin/stdout to ip:port inside ``namespace``."""
        inner = (f"command -v nc >/dev/null 2>&1 && exec nc {ip} {port}; "
                 f"exec python3 -c {shlex.quote(RELAY)} {ip} {port}")
        sudo = "sudo -n " if self.uses_sudo(node) else ""
        return f"{sudo}ip netns exec {shlex.quote(namespace)} sh -c {shlex.quote(inner)}"

    def open_relay(self, node: Node, namespace: str, ip: str, port: int = 22):
        """A socket-like object reaching ip:port from inside ``namespace`` on ``node``, for paramiko's ``sock``.

        Local nodes run the relay as a subprocess; SSH nodes run it in a new channel of the node's one
        transport (no new connection).
        """
        host = self.host(node)
        command = self.relay_command(node, namespace, ip, port)
        backend = host.backend
        if getattr(backend, "NAME", "") == "local":
            return paramiko.ProxyCommand(command)
        if getattr(backend, "NAME", "") == "paramiko":
            channel = backend.client.get_transport().open_session()
            channel.exec_command(command)
            return channel
        if getattr(backend, "NAME", "") == "ssh":  # OpenSSH: the relay rides the node's ControlMaster
            ssh_command, args = backend._build_ssh_command(command)
            return paramiko.ProxyCommand(backend.quote(" ".join(ssh_command), *args))
        raise NodeError(f"node {node.name}: reaching guests through it needs a local:// or SSH node, "
                        f"not {backend.NAME}://")

    def open_direct(self, address: str, port: int = 22):
        """A channel to address:port through the cloud's bastion (guests reached by floating IP)."""
        try:
            client = self.bastion_client(self.bastion)
            return client.get_transport().open_channel("direct-tcpip", (address, port), ("127.0.0.1", 0),
                                                       timeout=self.timeout)
        except (ssh.SSHError, paramiko.SSHException, OSError) as e:
            raise OSError(f"through bastion {self.bastion}: {e}") from None  # the guest's connect retries

    def close(self) -> None:
        for host in self._hosts.values():
            if hasattr(host.backend, "close"):
                host.backend.close()
        for client in self._bastions.values():
            client.close()
        self._hosts.clear()
        self._deployed.clear()
        self._bastions.clear()


def _control_path() -> str:
    """Where OpenSSH keeps the run's ControlMaster sockets: a private directory of this user."""
    path = os.path.join("/tmp", f"oslab-ssh-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return os.path.join(path, "%C")


# A byte relay between stdin/stdout and a TCP connection, for nodes without nc (python3 is on every
# OpenStack node). Run as: python3 -c RELAY IP PORT
RELAY = """
import os, select, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 10)
i, o = sys.stdin.fileno(), sys.stdout.fileno()
while True:
    r = select.select([s, i], [], [])[0]
    if s in r:
        d = s.recv(65536)
        if not d:
            break
        while d:
            d = d[os.write(o, d):]
    if i in r:
        d = os.read(i, 65536)
        if not d:
            break
        s.sendall(d)
"""
