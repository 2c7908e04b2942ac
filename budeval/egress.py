"""Egress policy: which URLs a request may make the service (and its runs) connect to.

A request names URLs (the model endpoint; a kubeconfig's `server`), and the service connects to
them with its own network position: without a policy a client could aim it at a cloud metadata
service (169.254.169.254, `metadata.google.internal`) and read credentials, or at anything else
only the service can reach. The operator's settings decide; nothing in a request can widen them.

Rules, in order (`check`):
1. syntax: scheme http or https, a host, a valid port, no `user:password@` (credentials in a URL
   end up in the database, spec files and logs: the key belongs in `api_key`);
2. the host name against the deny patterns, then (if an allow list is set) the allow patterns;
3. every address the host stands for (an IP literal, or what DNS answers: resolve-then-check, so
   a name cannot point around the policy) against the denied networks, then the allowed ones.
Deny always wins. Loopback and private networks are allowed unless the operator denies them.

`check` is pure given its resolver; `system_resolver` is the real one (bounded in time; call it
off the event loop). A name that does not resolve raises `Unresolvable`, and each caller decides:
submit accepts it (nothing is contacted then), a connection refuses it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, Field, field_validator

from budeval.errors import InvalidRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], Sequence[str]]
"""host name → its addresses as strings; raises `Unresolvable` when there are none."""

SCHEMES = ("http", "https")
_PATTERN = re.compile(r"[a-z0-9*?_.-]{1,253}")
_HOST = re.compile(r"[A-Za-z0-9_.-]{1,253}")
BUILTIN_DENY: tuple[str, ...] = (
    "169.254.0.0/16",  # IPv4 link-local: AWS/GCP/Azure/OpenStack metadata at 169.254.169.254
    "fe80::/10",  # IPv6 link-local
    "fd00:ec2::254/128",  # AWS metadata over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "168.63.129.16/32",  # Azure wireserver
    "0.0.0.0/8",  # "this host": reaches loopback on Linux, past a loopback deny
    "::/128",
    "224.0.0.0/4",  # multicast
    "ff00::/8",
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
)
"""Denied unless the operator turns the built-in list off (`BUDEVAL_EGRESS_BUILTIN_DENY=false`)."""


class EgressRefused(InvalidRequest):
    """The URL is outside the egress policy (a 422 at submit, a permanent failure later)."""

    reason = "EgressRefused"


class Unresolvable(EgressRefused):
    """The host name has no address (now): the caller decides whether that is a refusal."""

    reason = "Unresolvable"


def _entries(values: Iterable[str]) -> tuple[list[Network], list[str]]:
    networks: list[Network] = []
    patterns: list[str] = []
    for raw in values:
        value = raw.strip().lower()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value.strip("[]"), strict=False))
        except ValueError:
            patterns.append(value.rstrip("."))
    return networks, patterns


class EgressPolicy(BaseModel, frozen=True):
    """Allow and deny lists, each of CIDRs (`10.0.0.0/8`, `::1`) and host patterns
    (`models.example.com`, `*.internal`). An empty allow list allows everything not denied."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    builtin_deny: bool = True
    resolve_timeout_seconds: float = Field(default=2.0, gt=0, le=60)

    @field_validator("allow", "deny")
    @classmethod
    def _valid_entries(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            try:
                ipaddress.ip_network(value.strip().strip("[]"), strict=False)
            except ValueError:
                if not _PATTERN.fullmatch(value.strip().lower()):
                    raise ValueError(f"not a CIDR or host pattern: {value!r}") from None
        return values

    def denied(self) -> tuple[list[Network], list[str]]:
        return _entries((*(BUILTIN_DENY if self.builtin_deny else ()), *self.deny))

    def allowed(self) -> tuple[list[Network], list[str]]:
        return _entries(self.allow)


def split(url: str) -> SplitResult:
    """The URL's parts if its syntax is acceptable; EgressRefused (never echoing it) if not."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise EgressRefused("must be an http(s) URL without whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise EgressRefused("must be an http(s) URL")
    if "@" in parts.netloc:
        raise EgressRefused("credentials in the URL are not accepted: put the key in api_key")
    if not parts.hostname:
        raise EgressRefused("the URL has no host")
    if not _HOST.fullmatch(parts.hostname) and _address(parts.hostname) is None:
        # Percent-escapes, backslashes, non-ASCII: other URL parsers (the engines') may read
        # such a host differently from this one, so it is refused rather than interpreted.
        raise EgressRefused("the URL's host must be a DNS name (ASCII; IDN as xn--) or an IP")
    try:
        port = parts.port
    except ValueError:
        raise EgressRefused("the URL's port is not a number from 1 to 65535") from None
    if port == 0:
        raise EgressRefused("the URL's port is not a number from 1 to 65535")
    return parts


def check(url: str, policy: EgressPolicy, resolve: Resolver | None = None) -> list[Address]:
    """Refuse (EgressRefused) unless `url` is inside the policy; the addresses checked.

    `resolve` maps a host name to addresses; without it only IP literals are checked by address
    (a name is then judged by the patterns alone). Raises `Unresolvable` for a name without
    addresses, after the patterns have had their say.
    """
    host = (split(url).hostname or "").lower().rstrip(".")
    deny_nets, deny_patterns = policy.denied()
    allow_nets, allow_patterns = policy.allowed()
    if _matches(host, deny_patterns):
        raise EgressRefused("the URL's host is denied by the egress policy")
    host_allowed = _matches(host, allow_patterns)
    literal = _address(host)
    if literal is not None:
        addresses = [literal]
    elif resolve is None:
        addresses = []
    else:
        addresses = [_plain(ipaddress.ip_address(a.split("%")[0])) for a in resolve(host)]
        if not addresses:
            raise Unresolvable("the URL's host does not resolve")
    for address in addresses:
        if any(address in network for network in deny_nets if network.version == address.version):
            raise EgressRefused("the URL's host is (or resolves to) an address the policy denies")
    if (allow_nets or allow_patterns) and not host_allowed:
        inside = [any(a in n for n in allow_nets if n.version == a.version) for a in addresses]
        if not inside or not all(inside):
            raise EgressRefused("the URL's host is not in the egress allow list")
    return addresses


def _matches(host: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(host, pattern) for pattern in patterns)


def _plain(address: Address) -> Address:
    """IPv4-mapped IPv6 (`::ffff:169.254.169.254`) is judged as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address(host: str) -> Address | None:
    try:
        return _plain(ipaddress.ip_address(host.strip("[]").split("%")[0]))
    except ValueError:
        return None


def system_resolver(timeout: float) -> Resolver:
    """The host's resolver (getaddrinfo), giving up after `timeout` seconds (→ Unresolvable).

    getaddrinfo cannot be cancelled, so it runs on a daemon thread that is abandoned on timeout.
    Blocking: call the resolver off the event loop (`asyncio.to_thread`).
    """

    def resolve(host: str) -> list[str]:
        found: list[str] = []
        done = threading.Event()

        def lookup() -> None:
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
                found.extend(str(info[4][0]) for info in infos)
            except (OSError, UnicodeError):
                pass
            finally:
                done.set()

        threading.Thread(target=lookup, name="egress-resolve", daemon=True).start()
        if not done.wait(timeout):
            raise Unresolvable("the URL's host did not resolve in time")
        if not found:
            raise Unresolvable("the URL's host does not resolve")
        return sorted(set(found))

    return resolve
