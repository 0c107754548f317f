"""The probe agent: run on a node inside a network namespace (``ip netns exec qdhcp-<net> python3 agent.py ...``),
standard library only, it watches the guests from there until its lifetime ends or it is sent SIGINT/SIGTERM:

- ``icmp-<guest>.txt``: ``ping -D -O -n -i 0.2 -W 1 <ip>`` per guest (one echo every 0.2 s, each answer and each
  "no answer yet" with its epoch time), bounded by ``timeout`` to the lifetime; a ping that exits before (iputils
  ping ends on errors when given a deadline, so none is given) is started again, appending a new run to the file;
- ``tcp.txt``: every second, per guest, a TCP connect to port 22 and its first bytes: ``<epoch> <guest> ok|fail
  <detail>``;
- ``leases.txt``: every 2 s, per guest, the expiry its MAC has in the dnsmasq leases file (``-`` when absent):
  ``<epoch> <guest> <expiry>``; a renewal moves the expiry on;
- ``pid`` (written first) and ``done`` (written last, with the epoch time the agent stopped).

Nothing here imports pytest-oslab: the file is copied to the node as it is and run by the node's ``python3``.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time

INTERVAL = 0.2  # ICMP echo interval, seconds
TCP_EVERY = 1.0
LEASES_EVERY = 2.0


def lease_expiries(path):
    """{mac: expiry epoch} from a dnsmasq leases file."""
    found = {}
    try:
        with open(path) as f:
            for line in f:
                words = line.split()
                if len(words) >= 3 and words[0].isdigit():
                    found[words[1].lower()] = int(words[0])
    except OSError:
        pass
    return found


def tcp_probe(ip, port=22, timeout=1.0):
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            first = s.recv(16)
        return ("ok", "banner") if first.startswith(b"SSH-") else ("ok", "connected")
    except OSError as e:
        return "fail", type(e).__name__


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--lifetime", type=float, required=True)
    parser.add_argument("--guest", action="append", default=[], help="name=ip[=mac]")
    parser.add_argument("--leases", default="")
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    with open(os.path.join(args.dir, "pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    guests = [g.split("=") for g in args.guest]
    end = time.time() + args.lifetime
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    def ping(g):
        out = open(os.path.join(args.dir, f"icmp-{g[0]}.txt"), "a")
        left = max(1, int(end - time.time()) + 1)
        return subprocess.Popen(["timeout", "-s", "INT", str(left), "ping", "-D", "-O", "-n", "-i", str(INTERVAL),
                                 "-W", "1", g[1]], stdout=out, stderr=subprocess.STDOUT)

    pings = [ping(g) for g in guests]
    tcp = open(os.path.join(args.dir, "tcp.txt"), "a", buffering=1)
    leases = open(os.path.join(args.dir, "leases.txt"), "a", buffering=1)
    next_leases = 0.0
    while not stop and time.time() < end:
        began = time.time()
        for i, g in enumerate(guests):
            if pings[i].poll() is not None and time.time() < end - 1:
                pings[i] = ping(g)
        for g in guests:
            result, detail = tcp_probe(g[1])
            tcp.write(f"{time.time():.3f} {g[0]} {result} {detail}\n")
        if args.leases and began >= next_leases:
            expiries = lease_expiries(args.leases)
            for g in guests:
                if len(g) > 2:
                    leases.write(f"{time.time():.3f} {g[0]} {expiries.get(g[2].lower(), '-')}\n")
            next_leases = began + LEASES_EVERY
        time.sleep(max(0.0, TCP_EVERY - (time.time() - began)))
    for p in pings:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)  # ping prints its statistics on SIGINT
    for p in pings:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
    with open(os.path.join(args.dir, "done"), "w") as f:
        f.write(f"{time.time():.3f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
