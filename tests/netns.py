"""Simulated hosts on one machine: Linux network namespaces joined by a bridge.

Each host is a network namespace with one veth link to a bridge, and the bridge lives in a namespace
of its own (the switch): every address exists only inside those namespaces, the machine's own network
is never touched, and two runs at once never meet. A process runs on a host through `ip netns exec`,
so it sees only that host's link; `cut` sets the link's switch end down, as a cable pulled at the
switch: neither end is told, packets are simply lost, as when a host's network fails for real.

The hosts share the file system (namespaces isolate the network only), so the tests give each host
a folder of its own and reach the stores' Unix sockets from outside, as an operator with a console
would, never over the simulated network.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

SUBNET = "10.77.0"
"""The simulated network's /24: only ever assigned inside the namespaces."""
STOP_SECONDS = 20


@dataclass(frozen=True)
class Host:
    """One simulated host: its namespace, its address, and its link's end on the switch."""

    name: str
    namespace: str
    address: str
    switch_port: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _on(host: Host, command: Sequence[str]) -> list[str]:
    """`command` run in the host's network namespace and under its own host name (a UTS namespace of
    its own): a worker names itself after its host, as it would on a machine of its own."""
    named = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host.name]
    return ["ip", "netns", "exec", host.namespace, *named, *command]


def unavailable() -> str | None:
    """Why namespaces cannot be built here (a sentence for `pytest.skip`), or None when they can."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    for tool, package in (("ip", "iproute2"), ("unshare", "util-linux"), ("setpriv", "util-linux")):
        if shutil.which(tool) is None:
            return f"the `{tool}` command ({package}) is not installed"
    if os.geteuid() != 0:
        return "building network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    probe = f"nd-probe-{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
    except subprocess.CalledProcessError as error:
        return f"`ip netns add` is refused here: {error.stderr.strip()}"
    _ip("netns", "delete", probe)
    return None


class Network:
    """A switch and the hosts on it; a context manager that stops every process it started and
    deletes every namespace (and so every link and address) at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.tag = secrets.token_hex(2)
        self.switch = f"nd{self.tag}-switch"
        self.hosts: dict[str, Host] = {}
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Network:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def host(self, name: str) -> Host:
        """A new host on the switch, at the next address of SUBNET, with its loopback up."""
        number = len(self.hosts) + 1
        host = Host(name, f"nd{self.tag}-{name}", f"{SUBNET}.{number}", f"p{self.tag}{number}")
        _ip("netns", "add", host.namespace)
        _ip("-n", host.namespace, "link", "set", "lo", "up")
        _ip(
            "link", "add", "eth0", "netns", host.namespace, "type", "veth",
            "peer", "name", host.switch_port, "netns", self.switch,
        )  # fmt: skip
        _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", host.namespace, "link", "set", "eth0", "up")
        _ip("-n", self.switch, "link", "set", host.switch_port, "master", "br0")
        _ip("-n", self.switch, "link", "set", host.switch_port, "up")
        self.hosts[name] = host
        return host

    def start(
        self, host: Host, command: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None, log: str
    ) -> subprocess.Popen[bytes]:
        """Run `command` on `host` (its output in `log_dir/log`); every step execs the next, so the
        process returned is the command itself."""
        with (self.log_dir / log).open("ab") as out:
            process = subprocess.Popen(
                _on(host, command),
                env=dict(env),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def run(self, host: Host, command: Sequence[str], *, env: Mapping[str, str], timeout: float = 60) -> str:
        """Run `command` on `host` to its end; its output, or CalledProcessError with it."""
        done = subprocess.run(
            _on(host, command),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return done.stdout

    def cut(self, host: Host) -> None:
        """Pull the host's cable at the switch: its packets are lost, and nobody is told."""
        _ip("-n", self.switch, "link", "set", host.switch_port, "down")

    def mend(self, host: Host) -> None:
        """Plug it back in."""
        _ip("-n", self.switch, "link", "set", host.switch_port, "up")

    def log(self, name: str) -> str:
        path = self.log_dir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after STOP_SECONDS for all of them together),
        with every link up again so a graceful stop can reach the stores, then delete the namespaces."""
        for host in self.hosts.values():
            self.mend(host)
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "delete", host.namespace], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "delete", self.switch], check=False, capture_output=True)
