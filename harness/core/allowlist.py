"""The safety catch on load targets: which hosts a campaign may send load to. Pure: entries are
parsed from strings and a target is judged from its URL's host and port and the addresses that
host resolved to (resolution happens at the edge, harness.config.allow).

The rule (docs/distributed.md, "The allow-list"):

1. The URL's *host* must be allowed: ``localhost`` or a loopback address literal always is;
   any other host must be named by an entry ``HOST[:PORT]`` (a name, compared case-insensitively,
   or an address literal; with a port, only that port), or, for an address literal, lie in an
   entry ``CIDR``.
2. Every *address* the host resolved to must be allowed too: a loopback address always is;
   any other must be an address entry (``ADDR[:PORT]``, port compared when given) or lie in a
   ``CIDR`` entry. A name on the list therefore does not allow whatever DNS answers for it: a
   staging name that suddenly resolves into another network is refused, with the addresses
   shown, until that address or range is on the list too.

So ``--allow-host staging.example.com --allow-host 10.20.0.0/16`` allows the name and where it
may live; ``--allow-host 10.20.0.7:8080`` alone allows ``http://10.20.0.7:8080``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list entry: a host name, an address (each with an optional port), or a network."""

    text: str  # as written
    name: str | None = None  # lower-case host name
    address: Address | None = None
    network: Network | None = None
    port: int | None = None
    source: str = ""  # where it came from: "--allow-host", "HARNESS_ALLOW_HOSTS", "FILE line N"

    def matches_host(self, host: str, port: int) -> bool:
        """Rule 1 for this entry: the URL's host (lower-case name or address literal) and port."""
        if self.port is not None and self.port != port:
            return False
        if self.name is not None:
            return self.name == host
        literal = _address(host)
        if literal is None:
            return False
        if self.address is not None:
            return literal == self.address
        return self.network is not None and literal in self.network

    def matches_address(self, address: Address, port: int) -> bool:
        """Rule 2 for this entry: one resolved address (and the URL's port)."""
        if self.address is not None:
            return address == self.address and (self.port is None or self.port == port)
        return self.network is not None and address.version == self.network.version and address in self.network


@dataclass(frozen=True)
class Decision:
    """Whether a target may be loaded, and why not (one sentence naming the host and addresses)."""

    allowed: bool
    reason: str = ""
    suggestion: str = ""  # the flag that would allow it


def parse_entry(text: str, source: str = "") -> AllowEntry:
    """``HOST``, ``HOST:PORT``, ``ADDR``, ``ADDR:PORT``, ``[V6]:PORT``, ``V6`` or ``CIDR``; ValueError
    (a sentence naming the entry) when it is none of these."""
    raw = text.strip()
    where = f"{source}: " if source else ""
    if not raw:
        raise ValueError(f"{where}empty allow-list entry")
    if "://" in raw or raw.count("/") > 1 or any(c.isspace() for c in raw):
        raise ValueError(f"{where}{raw!r}: not HOST[:PORT], ADDR[:PORT] or CIDR (write the host, not a URL)")
    if "/" in raw:
        try:
            return AllowEntry(raw, network=ipaddress.ip_network(raw, strict=False), source=source)
        except ValueError as error:
            raise ValueError(f"{where}{raw!r}: not a network in CIDR notation ({error})") from None
    host, port = raw, None
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise ValueError(f"{where}{raw!r}: unclosed '[' in an IPv6 address")
        host, rest = raw[1:end], raw[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{where}{raw!r}: expected ':PORT' after ']'")
            port = _port(rest[1:], raw, where)
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
        port = _port(port_text, raw, where)
    literal = _address(host)
    if literal is not None:
        return AllowEntry(raw, address=literal, port=port, source=source)
    name = host.lower().rstrip(".")
    if not name or not all(part and part[0] != "-" and part[-1] != "-" and all(c.isalnum() or c in "-_" for c in part)
                           for part in name.split(".")):
        raise ValueError(f"{where}{raw!r}: not a host name, an address or a CIDR network")
    return AllowEntry(raw, name=name, port=port, source=source)


def parse_entries(texts: Iterable[str], source: str = "") -> list[AllowEntry]:
    """Every non-empty, comma-separated entry of ``texts`` (ValueError on the first bad one)."""
    entries = []
    for text in texts:
        for part in text.split(","):
            if part.strip():
                entries.append(parse_entry(part, source))
    return entries


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and names under .localhost) or a loopback address literal."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    literal = _address(host)
    return literal is not None and literal.is_loopback


def judge(host: str, port: int, addresses: Sequence[str], entries: Sequence[AllowEntry]) -> Decision:
    """May load go to ``host``:``port`` that resolved to ``addresses``? (the module's rule)."""
    host = host.lower().rstrip(".")
    if not addresses:
        return Decision(False, f"{host} did not resolve to any address")
    parsed = [_address(a) for a in addresses]
    if any(a is None for a in parsed):
        bad = [a for a, p in zip(addresses, parsed, strict=True) if p is None]
        return Decision(False, f"{host} resolved to something that is not an address: {', '.join(bad)}")
    shown = ", ".join(str(a) for a in parsed)
    host_ok = is_loopback_host(host) or any(e.matches_host(host, port) for e in entries)
    if not host_ok:
        flag = f"--allow-host {_host_text(host)}:{port}"
        return Decision(False, f"{host}:{port} (resolved to {shown}) is not on the allow-list", flag)
    outside = [a for a in parsed if not a.is_loopback and not any(e.matches_address(a, port) for e in entries)]
    if outside:
        listed = ", ".join(str(a) for a in outside)
        flag = " ".join(f"--allow-host {_host_text(str(a))}" for a in outside)
        return Decision(False, f"{host}:{port} is on the allow-list but resolved to {shown}; "
                               f"{listed} {'is' if len(outside) == 1 else 'are'} not (a name allows the host, "
                               "an address or CIDR entry where it may live)", flag)
    return Decision(True)


def _host_text(host: str) -> str:
    literal = _address(host)
    return f"[{host}]" if literal is not None and literal.version == 6 else host


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None


def _port(text: str, raw: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{where}{raw!r}: port {text!r} is not a number from 1 to 65535")
    return int(text)
