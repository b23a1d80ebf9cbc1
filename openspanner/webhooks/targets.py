"""Where a webhook may point: absolute http(s) URLs, never into the server's own network.

A key holder who may create destinations must not make the server call
loopback, private, link-local or cloud-metadata addresses (SSRF), unless the
operator allows it (OPENSPANNER_WEBHOOK_ALLOW_PRIVATE=true, for receivers on
the same network). The URL is checked when a destination is saved and again
at every attempt, after DNS resolution: the attempt connects only to the
addresses that were checked (delivery.py), so a name that resolves elsewhere
later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from openspanner.errors import InvalidArgument

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
# Cloud metadata and host-agent addresses that are not caught as non-global
# below (the link-local and unique-local ones, 169.254.169.254 and
# fd00:ec2::254, already are).
METADATA_ADDRESSES = frozenset({
    ipaddress.ip_address("168.63.129.16"),  # Azure wire server
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud metadata
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),
})
# Names that mean this host or a metadata service whatever DNS says.
FORBIDDEN_NAMES = ("localhost", "metadata.google.internal", "metadata")
DNS_TIMEOUT_SECONDS = 5.0


class ForbiddenTarget(OSError):
    """A webhook host resolves to an address it may not reach. An OSError, so that raised from
    the HTTP client's resolver it ends the connection attempt as a failed name look-up would."""


def forbidden_reason(address: IpAddress) -> str | None:
    """Why a webhook may not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return forbidden_reason(embedded)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:  # a connect to it reaches this host
        return "a loopback address (unspecified)"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_reserved or not address.is_global:
        return "not a public address"
    return None


def check_url(url: str, allow_private: bool, field: str = "webhook_url") -> str:
    """The URL trimmed, if it is absolute http(s) and its host is not forbidden by name or literal
    address; InvalidArgument naming `field` otherwise. Names are checked after resolution
    (check_resolved)."""
    url = url.strip()
    if not url:
        raise InvalidArgument("is required", field=field)
    if len(url) > MAX_URL_LENGTH:
        raise InvalidArgument(f"must be at most {MAX_URL_LENGTH} characters", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidArgument(f"is not a valid URL: {exc}", field=field) from None
    if parts.scheme not in ("http", "https"):
        raise InvalidArgument("must be an absolute http or https URL", field=field)
    host = parts.hostname
    if not host:
        raise InvalidArgument("must be an absolute http or https URL with a host", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument("must not carry credentials (user:password@)", field=field)
    if port == 0:
        raise InvalidArgument("must not use port 0", field=field)
    if not allow_private:
        reason = _forbidden_host(host)
        if reason:
            raise InvalidArgument(
                f"points to {reason} ({host}); set OPENSPANNER_WEBHOOK_ALLOW_PRIVATE=true to allow it", field=field
            )
    return url


def literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def _forbidden_host(host: str) -> str | None:
    address = literal_address(host)
    if address is not None:
        return forbidden_reason(address)
    name = host.lower().rstrip(".")
    if any(name == forbidden or name.endswith("." + forbidden) for forbidden in FORBIDDEN_NAMES):
        return "this host or a metadata service"
    return None


def check_addresses(host: str, addresses: list[IpAddress]) -> None:
    """Raise ForbiddenTarget when any address `host` resolved to is forbidden: one bad answer
    is enough to refuse, so a name cannot mix a public address with an internal one."""
    for address in addresses:
        reason = forbidden_reason(address)
        if reason:
            raise ForbiddenTarget(
                f"{host} resolves to {reason} ({address}); set OPENSPANNER_WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )


async def resolve(host: str, port: int) -> list[IpAddress]:
    """The addresses of `host`, as the resolver of this machine answers."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=DNS_TIMEOUT_SECONDS
    )
    addresses: list[IpAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def check_resolved_url(url: str, allow_private: bool, field: str = "webhook_url") -> None:
    """At save time: a host name that resolves now to a forbidden address is refused. A name that
    does not resolve yet is accepted; every attempt resolves and checks it again."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    if literal_address(host) is not None:
        return
    try:
        addresses = await resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, TimeoutError):
        return
    try:
        check_addresses(host, addresses)
    except ForbiddenTarget as exc:
        raise InvalidArgument(str(exc), field=field) from None
