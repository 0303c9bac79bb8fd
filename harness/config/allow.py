"""The safety catch at the edge: the allow-list from its three sources, DNS resolution, TLS
settings and the pre-flight check of a load target (the rule itself is pure:
harness.core.allowlist). Every refusal is an InputError (exit 2) naming the flag, the host, its
resolved addresses and the flag that would allow it, raised before any connection to the target.

Sources of the allow-list, all merged: ``--allow-host HOST[:PORT]|CIDR`` (repeatable), the
environment variable ``HARNESS_ALLOW_HOSTS`` (comma-separated entries) and ``--allow-hosts-file
FILE`` (one entry per line, ``#`` comments). docs/distributed.md.

Test-only: ``HARNESS_TEST_RESOLVE="name=127.0.0.1;other=127.0.0.2"`` makes this process resolve
those names to those addresses (loopback addresses only: anything else is refused), for the
allow-check and for the harness's own connections (the health probe of the pre-flight); Locust
processes do not see it. It lets a test give the embedded shop a name that is not ``localhost``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness.core.allowlist import AllowEntry, judge, parse_entries, parse_entry
from harness.errors import InputError

ENV_ALLOW = "HARNESS_ALLOW_HOSTS"
ENV_TEST_RESOLVE = "HARNESS_TEST_RESOLVE"


@dataclass(frozen=True)
class Safety:
    """The allow-list and TLS settings of one command, from its flags and the environment."""

    entries: tuple[AllowEntry, ...] = ()
    ca_bundle: Path | None = None

    @property
    def verify(self) -> bool | str:
        """``requests``' verify argument: the CA bundle's path, else True (verification is never off)."""
        return str(self.ca_bundle) if self.ca_bundle else True


@dataclass(frozen=True)
class CheckedTarget:
    """A target that passed the safety catch: its URL and what the pre-flight shows about it."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]
    tls: str  # "none (http)", "verified (system CAs)", "verified (CA bundle FILE)"
    entries: tuple[str, ...] = field(default=())

    def as_manifest(self) -> dict:
        return {"url": self.url, "host": self.host, "port": self.port, "addresses": list(self.addresses),
                "tls": self.tls, "allow_list": list(self.entries)}


def safety_from(allow_hosts: list[str] | None, allow_hosts_file: str | Path | None,
                ca_bundle: str | Path | None, environ: dict | None = None) -> Safety:
    """Merge the allow-list sources and check the CA bundle; InputError naming the flag, the
    variable or the file and line at fault."""
    environ = os.environ if environ is None else environ
    entries: list[AllowEntry] = []
    try:
        for value in allow_hosts or ():
            entries.extend(parse_entries([value], "--allow-host"))
        if environ.get(ENV_ALLOW):
            entries.extend(parse_entries([environ[ENV_ALLOW]], ENV_ALLOW))
    except ValueError as error:
        raise InputError(str(error)) from None
    if allow_hosts_file is not None:
        path = Path(allow_hosts_file)
        if not path.is_file():
            raise InputError(f"--allow-hosts-file {allow_hosts_file}: no such file")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = line.split("#", 1)[0].strip()
            if text:
                try:
                    entries.append(parse_entry(text, f"{path} line {number}"))
                except ValueError as error:
                    raise InputError(f"--allow-hosts-file {error}") from None
    bundle = None
    if ca_bundle is not None:
        bundle = Path(ca_bundle)
        if not bundle.is_file():
            raise InputError(f"--ca-bundle {ca_bundle}: no such file")
        bundle = bundle.resolve()
    return Safety(tuple(entries), bundle)


def check_target_allowed(url: str, flag: str, safety: Safety) -> CheckedTarget:
    """``url`` (any http(s) URL) resolved and judged by the allow-list before any connection;
    InputError naming ``flag``, the host, its addresses and the flag that would allow it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{flag} {url!r}: not an http:// or https:// URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise InputError(f"{flag} {url!r}: {error}") from None
    host = parts.hostname
    addresses = resolve(host, port, flag)
    decision = judge(host, port, addresses, safety.entries)
    if not decision.allowed:
        hint = f"; to allow it: {decision.suggestion} (or {ENV_ALLOW}, or --allow-hosts-file)" \
            if decision.suggestion else ""
        raise InputError(f"{flag} {url}: refused before any connection: {decision.reason}{hint}")
    if parts.scheme == "http":
        tls = "none (http)"
    elif safety.ca_bundle is not None:
        tls = f"verified against the CA bundle {safety.ca_bundle}"
    else:
        tls = "verified against the system's CAs"
    return CheckedTarget(url.rstrip("/"), host, port, tuple(addresses), tls, tuple(e.text for e in safety.entries))


def resolve(host: str, port: int, flag: str = "--target") -> list[str]:
    """Every address ``host`` resolves to (address literals as they are); InputError when it does
    not resolve. Honours the test-only HARNESS_TEST_RESOLVE."""
    install_test_resolver()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise InputError(f"{flag}: the host {host} does not resolve ({error}); no load was sent") from None
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%")[0]
        if address not in seen:
            seen.append(address)
    return seen


_ORIGINAL_GETADDRINFO = socket.getaddrinfo
_installed: dict[str, str] = {}


def install_test_resolver(environ: dict | None = None) -> dict[str, str]:
    """Test-only: from HARNESS_TEST_RESOLVE, resolve the names it lists to loopback addresses in
    this process (socket.getaddrinfo); InputError when an address is not loopback. Idempotent."""
    environ = os.environ if environ is None else environ
    text = environ.get(ENV_TEST_RESOLVE, "")
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, address = part.partition("=")
        try:
            loopback = ipaddress.ip_address(address.strip()).is_loopback
        except ValueError:
            loopback = False
        if not name.strip() or not loopback:
            raise InputError(f"{ENV_TEST_RESOLVE} {part!r}: must be NAME=LOOPBACK_ADDRESS (test-only; "
                             "it can never point a name away from this machine)")
        mapping[name.strip().lower()] = address.strip()
    if not mapping or mapping == _installed:
        return mapping
    _installed.clear()
    _installed.update(mapping)

    def getaddrinfo(host, port, *args, **kwargs):
        key = host.lower() if isinstance(host, str) else host
        if key in _installed:
            host = _installed[key]
        return _ORIGINAL_GETADDRINFO(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    return mapping


def preflight_lines(profile, target: CheckedTarget | None, workers: int, shop_journeys: bool = True,
                    url: str | None = None) -> list[str]:
    """The pre-flight block for ``profile`` against ``target`` (None: the embedded platform at
    ``url``); requests per journey are estimated from the profile's mix for the shop's journeys,
    not estimated for another locustfile (``shop_journeys`` False)."""
    import tomllib

    from harness.core import preflight

    per_journey, source = None, "a locustfile of your own: see the progress lines"
    if shop_journeys:
        try:
            mix = tomllib.loads(profile.mix_file.read_text(encoding="utf-8")).get("mix", {})
            per_journey, source = preflight.requests_per_visit(mix), f"estimated from the mix {profile.mix}"
        except (OSError, tomllib.TOMLDecodeError) as error:
            source = f"mix unreadable: {error}"
    return preflight.preflight_lines(
        url=target.url if target else (url or "the embedded platform"), addresses=target.addresses if target else (),
        tls=target.tls if target else "none (http, loopback)", stages=profile.stages_manifest(),
        total_s=profile.total_duration_s, drain_s=profile.drain_s, requests_per_journey=per_journey,
        estimate_source=source, max_requests_per_s=profile.max_requests_per_s,
        abort=profile.abort.as_dict() or None, workers=workers)
