"""The client's IP address, as API.md "Tracking events" defines it (a deviation from seed 001).

Seed 001 takes the first `X-Forwarded-For` entry, which any client can write, so a client could
choose its own IP and dodge the per-IP rate limit. Here the forwarding headers are believed only
when the TCP peer (`REMOTE_ADDR`) is one of the configured `TRUSTED_PROXIES` (CIDRs):

- peer not trusted: the peer's address, whatever the headers say;
- peer trusted: `X-Forwarded-For` read from the right, skipping trusted proxies; the first hop
  that is not a trusted proxy is the client (every proxy appends the address it saw, so the
  right-most untrusted hop is the last one a client could not forge);
- peer trusted and no `X-Forwarded-For`: `X-Real-IP`, else the peer.

IPv4 and IPv6 both work; ports, brackets and zone ids are dropped and IPv4-mapped IPv6 addresses
(`::ffff:192.0.2.1`) are given as IPv4, so one client has one spelling.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def ip_parse(raw: str | None) -> IPAddress | None:
    """One address from a header or REMOTE_ADDR (`1.2.3.4`, `1.2.3.4:80`, `[::1]:443`, `fe80::1%eth0`)."""
    if not raw or not isinstance(raw, str):
        return None
    text = raw.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        # IPv4 with a port; an IPv6 address has at least two colons.
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in trusted if cidr.strip())


def trusted_networks() -> tuple[IPNetwork, ...]:
    """TRUSTED_PROXIES as networks (parsed once per distinct setting value)."""
    return _networks(tuple(settings.TRUSTED_PROXIES or ()))


def is_trusted_proxy(address: IPAddress, networks: tuple[IPNetwork, ...] | None = None) -> bool:
    networks = trusted_networks() if networks is None else networks
    return any(address.version == network.version and address in network for network in networks)


def client_ip_from_meta(meta) -> str | None:
    """The client's address from a WSGI environ / `request.META`; None if there is none at all."""
    networks = trusted_networks()
    peer = ip_parse(meta.get("REMOTE_ADDR"))
    if peer is None or not networks or not is_trusted_proxy(peer, networks):
        return str(peer) if peer is not None else None

    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded:
        client = peer
        for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
            address = ip_parse(hop)
            if address is None:
                # A trusted proxy passed on garbage: stop at the last address it vouched for.
                break
            client = address
            if not is_trusted_proxy(address, networks):
                break
        return str(client)

    real_ip = ip_parse(meta.get("HTTP_X_REAL_IP"))
    return str(real_ip if real_ip is not None else peer)


def client_ip(request) -> str | None:
    """The client's address for a Django or DRF request (see the module docstring for the rule)."""
    return client_ip_from_meta(request.META)


def rate_limit_subject(address: str | None) -> str:
    """What a per-IP rate limit counts: the address for IPv4, its /64 for IPv6 (one host
    usually holds a whole /64, so counting single IPv6 addresses would not limit anyone)."""
    parsed = ip_parse(address)
    if parsed is None:
        return "unknown"
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
