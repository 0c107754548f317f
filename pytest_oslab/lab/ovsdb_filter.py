"""os-vif's way into Open vSwitch's database on ML2/OVN: every bridge it writes keeps the lab's datapath type.

Why: neutron Zed's OVN driver binds ports without ``datapath_type`` in ``binding:vif_details`` (the OVS agent
reports its own), so nova's os-vif takes the kernel datapath and, on every VIF it plugs, runs the equivalent of
``add-br --may-exist br-int -- set Bridge br-int datapath_type=system``. This kernel has no Open vSwitch module:
br-int is torn down (and with it every port and flow) until ovn-controller sets ``netdev`` back a moment later.
A tap that libvirt brings up in that moment can be left down by ovs-vswitchd's flag handling, and its guest never
gets DHCP: one CI failure, and 73 such rebuilds in a day of this machine's logs.

The lab points os-vif (``[os_vif_ovs] ovsdb_connection``) at this relay instead of ovsdb-server's TCP remote.
It forwards both directions unchanged except the ``datapath_type`` of a Bridge row in a client's ``transact``,
which becomes the lab's own; that is what os-vif would write had neutron passed the chassis' datapath type.
Nothing else is touched: ports, interfaces and their external ids reach ovsdb-server as os-vif sent them.

Run as ``python -m pytest_oslab.lab.ovsdb_filter LISTEN_PORT UPSTREAM_PORT DATAPATH_TYPE`` (127.0.0.1 only).
"""
from __future__ import annotations

import asyncio
import codecs
import json
import sys
from typing import Iterator, List, Tuple

_DECODER = json.JSONDecoder()


def split_messages(buffer: str) -> Tuple[List[object], str]:
    """The complete JSON-RPC messages at the start of ``buffer`` (OVSDB sends them back to back, no framing),
    and what is left of it."""
    messages, pos = [], 0
    while True:
        while pos < len(buffer) and buffer[pos].isspace():
            pos += 1
        if pos == len(buffer):
            return messages, ""
        try:
            message, end = _DECODER.raw_decode(buffer, pos)
        except json.JSONDecodeError:
            return messages, buffer[pos:]  # the rest has not arrived yet
        messages.append(message)
        pos = end


def _bridge_rows(message: dict) -> Iterator[dict]:
    if not isinstance(message, dict) or message.get("method") != "transact":
        return
    for op in (message.get("params") or [])[1:]:
        if isinstance(op, dict) and op.get("table") == "Bridge" and isinstance(op.get("row"), dict):
            yield op["row"]


def rewrite(message: object, datapath_type: str) -> Tuple[object, int]:
    """``message`` with every Bridge ``datapath_type`` it writes set to ``datapath_type``; how many it changed."""
    changed = 0
    for row in _bridge_rows(message):
        if "datapath_type" in row and row["datapath_type"] != datapath_type:
            row["datapath_type"] = datapath_type
            changed += 1
    return message, changed


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, datapath_type: str = None) -> None:
    pending, decoder = "", codecs.getincrementaldecoder("utf-8")()
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if datapath_type is None:
                writer.write(data)
            else:
                messages, pending = split_messages(pending + decoder.decode(data))
                for message in messages:
                    message, changed = rewrite(message, datapath_type)
                    if changed:
                        print(f"ovsdb_filter: kept datapath_type={datapath_type} in a transact of "
                              f"{changed} Bridge row(s)", file=sys.stderr, flush=True)
                    writer.write(json.dumps(message, separators=(",", ":")).encode())
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(listen_port: int, upstream_port: int, datapath_type: str) -> None:
    async def relay(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, up_writer, datapath_type), _pipe(up_reader, client_writer))

    server = await asyncio.start_server(relay, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


def main(argv: List[str] = None) -> None:
    listen, upstream, datapath_type = (argv if argv is not None else sys.argv[1:])
    asyncio.run(serve(int(listen), int(upstream), datapath_type))


if __name__ == "__main__":
    main()
