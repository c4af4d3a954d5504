"""Client addresses against the operator's lists (`METRICS_ALLOW`, `TRUSTED_PROXIES`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .config import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(name: str, value: str | Iterable[str]) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks (`METRICS_ALLOW`, `TRUSTED_PROXIES`); empty means none."""
    items = value.split(",") if isinstance(value, str) else list(value)
    networks = []
    for item in (part.strip() for part in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or network") from None
    return tuple(networks)


def address_in(address: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether `address` (an IP, perhaps IPv4-mapped IPv6 or with a zone) lies in one of `networks`."""
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)
