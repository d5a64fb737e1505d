"""Real fencing for the lab's cluster: a fence device that powers a node off.

On real hosts the cluster fences through IPMI, a PDU, or the hypervisor (fence_virt): a
management plane outside the node. The lab's management plane is the host: LabFencer
listens on the lab bridge (in the client namespace, 192.168.77.100) and powers nodes off
(kill -9 of the node's PID 1, like pulling its plug) when the cluster asks. The nodes
reach it with the fence agent `fence_s2slab` (FENCE_AGENT below, installed to
/usr/sbin in every node), which speaks the fence-agents protocol Pacemaker's fencer uses.

"reboot" is carried out as "off": the test brings the node back when it wants it back.
Every request is logged (LabFencer.log) so tests can show who was fenced when.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import threading
import time
from dataclasses import dataclass

from lab import CLIENT_ADDRESS
from lab.backend import LabNodes

FENCE_PORT = 7999
AGENT_PATH = "/usr/sbin/fence_s2slab"
CLONE_NEWNET = 0x40000000

FENCE_AGENT = r'''#!/usr/bin/python3
"""fence_s2slab: fence agent of the s2s-sd lab (powers nodes off through the lab host)."""
import socket
import sys

METADATA = """<?xml version="1.0" ?>
<resource-agent name="fence_s2slab" shortdesc="Fence agent for the s2s-sd lab nodes">
<longdesc>Powers a lab node off through the lab host's fence service (like fence_virt).</longdesc>
<vendor-url>https://example.invalid/s2s-sd</vendor-url>
<parameters>
  <parameter name="action" unique="0" required="1">
    <getopt mixed="-o, --action=[action]"/>
    <content type="string" default="off"/>
    <shortdesc lang="en">Fencing action</shortdesc>
  </parameter>
  <parameter name="plug" unique="0" required="0" obsoletes="port">
    <getopt mixed="-n, --plug=[node]"/>
    <content type="string"/>
    <shortdesc lang="en">The node to act on</shortdesc>
  </parameter>
  <parameter name="port" unique="0" required="0" deprecated="1">
    <getopt mixed="-n, --plug=[node]"/>
    <content type="string"/>
    <shortdesc lang="en">The node to act on</shortdesc>
  </parameter>
  <parameter name="ipaddr" unique="0" required="1">
    <getopt mixed="-a, --ip=[ip]"/>
    <content type="string"/>
    <shortdesc lang="en">Address of the lab fence service</shortdesc>
  </parameter>
  <parameter name="ipport" unique="0" required="0">
    <getopt mixed="-u, --ipport=[port]"/>
    <content type="integer" default="7999"/>
    <shortdesc lang="en">TCP port of the lab fence service</shortdesc>
  </parameter>
</parameters>
<actions>
  <action name="on" automatic="0"/>
  <action name="off"/>
  <action name="reboot"/>
  <action name="status"/>
  <action name="list"/>
  <action name="monitor"/>
  <action name="metadata"/>
  <action name="validate-all"/>
</actions>
</resource-agent>
"""


def options():
    opts = {}
    args = sys.argv[1:]
    if args:
        flags = {"-o": "action", "--action": "action", "-n": "plug", "--plug": "plug",
                 "-a": "ipaddr", "--ip": "ipaddr", "-u": "ipport", "--ipport": "ipport"}
        i = 0
        while i < len(args):
            arg = args[i]
            if "=" in arg and arg.startswith("--"):
                key, value = arg.split("=", 1)
                opts[flags.get(key, key.lstrip("-"))] = value
            elif arg in flags and i + 1 < len(args):
                opts[flags[arg]] = args[i + 1]
                i += 1
            i += 1
    else:
        for line in sys.stdin:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                opts[key.strip()] = value.strip()
    if "port" in opts and "plug" not in opts:
        opts["plug"] = opts["port"]
    return opts


def ask(opts, request):
    with socket.create_connection((opts["ipaddr"], int(opts.get("ipport", 7999))),
                                  timeout=20) as conn:
        conn.sendall((request + "\n").encode())
        return conn.makefile().readline().strip()


def main():
    opts = options()
    action = opts.get("action", "off")
    if action in ("metadata", "meta-data"):
        print(METADATA)
        return 0
    if action == "validate-all":
        return 0 if opts.get("ipaddr") else 1
    if action == "monitor":
        return 0 if ask(opts, "monitor -") == "ok" else 1
    if action == "list":
        print(ask(opts, "list -").replace(" ", "\n"))
        return 0
    plug = opts.get("plug") or opts.get("nodename")
    if not plug:
        print("no plug/port given", file=sys.stderr)
        return 1
    answer = ask(opts, f"{action} {plug}")
    if action == "status":
        return 0 if answer == "on" else 2
    return 0 if answer == "ok" else 1


sys.exit(main())
'''


@dataclass(frozen=True)
class FenceEvent:
    time: float
    action: str
    node: str
    answer: str


class LabFencer:
    """The lab host's fence service: a thread listening in the client namespace."""

    def __init__(self, lab: LabNodes, port: int = FENCE_PORT) -> None:
        self.lab = lab
        self.port = port
        self.log: list[FenceEvent] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="lab-fencer", daemon=True)

    def start(self) -> LabFencer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the lab fence service did not start")
        if self._error is not None:
            raise RuntimeError(f"the lab fence service failed: {self._error}")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def install(self) -> None:
        """The fence agent into every running node."""
        for node in self.lab.nodes:
            if self.lab.is_running(node):
                self.lab.exec(node, ["sh", "-c", f"cat > {AGENT_PATH} && chmod 755 {AGENT_PATH}"],
                              input=FENCE_AGENT)

    def _serve(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            netns = getattr(self.lab, "client_netns", "s2slab-client")
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:  # this thread only
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            server = socket.create_server((CLIENT_ADDRESS, self.port), reuse_port=False)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        server.settimeout(0.2)
        self._ready.set()
        with server:
            while not self._stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn, contextlib.suppress(OSError):
                    conn.settimeout(30)
                    request = conn.makefile().readline().split()
                    answer = self._handle(request)
                    conn.sendall((answer + "\n").encode())

    def _handle(self, request: list[str]) -> str:
        if len(request) != 2:
            return "error"
        action, node = request
        if action == "monitor":
            answer = "ok"
        elif action == "list":
            answer = " ".join(self.lab.nodes)
        elif node not in self.lab.nodes:
            answer = "error"
        elif action == "status":
            answer = "on" if self.lab.is_running(node) else "off"
        elif action in ("off", "reboot"):
            try:
                if self.lab.is_running(node):
                    self.lab.kill(node)
                answer = "ok"
            except Exception as exc:  # the fencer must hear about any failure
                answer = f"error {exc}"
        elif action == "on":
            answer = "ok"  # the tests bring nodes back themselves
        else:
            answer = "error"
        if action not in ("monitor", "list", "status"):
            self.log.append(FenceEvent(time.time(), action, node, answer))
        return answer
