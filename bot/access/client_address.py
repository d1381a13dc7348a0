"""The client's address, for limits and the audit log: believe a proxy only when configured.

Behind the TLS proxy every request comes from the proxy's address, so limits per address would
lump all families together; `X-Forwarded-For` says who the client is, but anyone can send that
header. It is read only when the direct peer is in `TRUSTED_PROXIES`, and then from the right:
the first address that is not itself a trusted proxy is the client (RFC 7239's advice, the
rule nginx's `real_ip_recursive` and Werkzeug's `ProxyFix` follow).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str | None) -> tuple[Network, ...]:
    """`TRUSTED_PROXIES`: comma-separated addresses or networks (`10.0.0.0/8, ::1`)."""
    if not value:
        return ()
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",")
        if part.strip()
    )


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: object, networks: Iterable[Network]) -> bool:
    return any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """The client's address as text ("unknown" when the peer has none, e.g. a Unix socket)."""
    peer_address = _address(peer) if peer else None
    if peer_address is None:
        return "unknown"
    if not trusted or not _trusted(peer_address, trusted):
        return str(peer_address)
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # a malformed hop: stop believing the chain here
        if not _trusted(address, trusted):
            return str(address)
        peer_address = address
    return str(peer_address)


TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)


def request_address(request: web.Request) -> str:
    """The client address of an aiohttp request, with the app's trusted proxies."""
    trusted = request.app.get(TRUSTED_PROXIES, ())
    return client_address(
        request.remote, request.headers.getall("X-Forwarded-For", []), trusted
    )
