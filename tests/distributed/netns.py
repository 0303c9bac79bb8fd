"""Real hosts on one machine for the distributed tests: network namespaces on a private /24.

A :class:`Hosts` set is one namespace per named host, each with its own address (``.2``, ``.3``,
...) and loopback, and the root namespace (the master's host, ``.1``), all joined by veth pairs
to a Linux bridge that lives in a namespace of its own (the "switch"): frames between hosts
then never cross the root namespace's bridge netfilter hooks, which Docker's rules make drop.
Names carry this process's pid and a count of the sets it made, and the /24 is chosen from them
too, so concurrent test sessions do not collide. Everything is removed on exit, also when a test
fails (and namespaces left by a crashed earlier session of the same pid are replaced).

Needs root and iproute2 (CI runs as root); :func:`unavailable_reason` says why not, for a skip.
Only the addresses made here are ever load targets.

    with Hosts(["staging", "w1", "w2"]) as hosts:
        hosts.address("staging")             # "10.213.37.2"
        hosts.popen("staging", [...])        # a process on that host
        hosts.root_address                   # "10.213.37.1" (the root namespace: the master)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence

PREFIX_LEN = 24


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def unavailable_reason() -> str | None:
    """None when namespaces can be made here, else why not (for pytest.skip)."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    probe = f"hxprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


class Hosts:
    """Namespaced hosts on a private /24 joined by a bridge in a switch namespace."""

    _made = 0

    def __init__(self, names: Iterable[str], subnet_octet: int | None = None) -> None:
        self.names = list(names)
        if len(self.names) > 200:
            raise ValueError("at most 200 hosts")
        Hosts._made += 1  # two sets in one session never share names
        tag = (os.getpid() % 10000) * 10 + Hosts._made % 10
        self.tag = tag
        octet = subnet_octet if subnet_octet is not None else 20 + tag % 200
        self.net = f"10.213.{octet}"
        self.bridge = "br0"
        self.switch = f"hx{tag}-sw"
        self.root_address = f"{self.net}.1"
        self._ns = {name: f"hx{tag}-{name}" for name in self.names}
        self._addr = {name: f"{self.net}.{i + 2}" for i, name in enumerate(self.names)}
        self._procs: list[subprocess.Popen] = []

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> Hosts:
        try:
            self._create()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.remove()

    def _create(self) -> None:
        self.remove()  # leftovers of a crashed session with the same pid
        sw = self.switch
        _ip("netns", "add", sw)
        _ip("-n", sw, "link", "add", self.bridge, "type", "bridge")
        _ip("-n", sw, "link", "set", self.bridge, "up")
        # the root namespace's leg
        root_end, sw_end = f"hx{self.tag}r", f"hx{self.tag}rs"
        _ip("link", "add", root_end, "type", "veth", "peer", "name", sw_end)
        _ip("link", "set", sw_end, "netns", sw)
        _ip("-n", sw, "link", "set", sw_end, "master", self.bridge)
        _ip("-n", sw, "link", "set", sw_end, "up")
        _ip("addr", "add", f"{self.root_address}/{PREFIX_LEN}", "dev", root_end)
        _ip("link", "set", root_end, "up")
        for index, name in enumerate(self.names):
            ns, sw_end, ns_end = self._ns[name], f"hx{self.tag}s{index}", f"hx{self.tag}n{index}"
            _ip("netns", "add", ns)
            _ip("link", "add", sw_end, "type", "veth", "peer", "name", ns_end)
            _ip("link", "set", sw_end, "netns", sw)
            _ip("-n", sw, "link", "set", sw_end, "master", self.bridge)
            _ip("-n", sw, "link", "set", sw_end, "up")
            _ip("link", "set", ns_end, "netns", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", ns_end, "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{self._addr[name]}/{PREFIX_LEN}", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def remove(self) -> None:
        """Stop the processes started here, delete the namespaces (their veth ends go with them)
        and the root's leg. Idempotent; never raises."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._procs.clear()
        for ns in [*self._ns.values(), self.switch]:
            _ip("netns", "del", ns, check=False)  # their links go with them
        _ip("link", "del", f"hx{self.tag}r", check=False)

    def leftovers(self) -> list[str]:
        """Namespaces and links of this set that still exist (empty once removed)."""
        names = set(_ip("netns", "list", check=False).stdout.split())
        links = _ip("-o", "link", "show", check=False).stdout
        left = [ns for ns in [*self._ns.values(), self.switch] if ns in names]
        root_end = f"hx{self.tag}r"
        left += [root_end] if f" {root_end}:" in links or f" {root_end}@" in links else []
        return left

    # -- use ---------------------------------------------------------------------------------------
    def address(self, name: str) -> str:
        return self._addr[name]

    def namespace(self, name: str) -> str:
        return self._ns[name]

    def argv(self, name: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run on host ``name`` (``ip netns exec NS ...``)."""
        return ["ip", "netns", "exec", self._ns[name], *argv]

    def popen(self, name: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start ``argv`` on host ``name``; killed by :meth:`remove` if still running."""
        proc = subprocess.Popen(self.argv(name, argv), **kwargs)
        self._procs.append(proc)
        return proc

    def run(self, name: str, argv: Sequence[str], timeout_s: float = 60.0) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(name, argv), capture_output=True, text=True, timeout=timeout_s)
