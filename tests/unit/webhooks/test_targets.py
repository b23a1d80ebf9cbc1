"""Where a webhook may point: refused targets name the field and say why (SSRF)."""

from __future__ import annotations

import ipaddress

import pytest

from openspanner.errors import InvalidArgument
from openspanner.webhooks.targets import ForbiddenTarget, check_addresses, check_url, forbidden_reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.8", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("fc00::5", "private"),
        ("100.100.100.200", "metadata"),
        ("168.63.129.16", "metadata"),
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("0.0.0.0", "loopback"),
        ("::", "loopback"),
        ("224.0.0.1", "not a public address"),
        ("::ffff:127.0.0.1", "loopback"),  # an IPv4-mapped address is its IPv4 address
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_internal_addresses_are_forbidden(address: str, reason: str) -> None:
    found = forbidden_reason(ipaddress.ip_address(address))
    assert found is not None and reason in found


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "required"),
        ("example.com/hook", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("gopher://example.com/", "http or https"),
        ("http:///path-only", "host"),
        ("http://user:secret@example.com/", "credentials"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://localhost:8080/", "this host"),
        ("http://LOCALHOST./", "this host"),
        ("http://api.localhost/", "this host"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://127.0.0.1/", "loopback"),
        ("http://[::1]:8080/", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://" + "a" * 2050 + ".com/", "at most"),
    ],
)
def test_refused_urls_name_the_field(url: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_url(url, allow_private=False)
    assert refused.value.field == "webhook_url"
    assert reason in refused.value.message


def test_private_targets_pass_when_the_operator_allows_them_but_the_form_is_still_checked() -> None:
    assert check_url(" http://127.0.0.1:9000/hook ", allow_private=True) == "http://127.0.0.1:9000/hook"
    assert check_url("http://10.0.0.1/", allow_private=True) == "http://10.0.0.1/"
    with pytest.raises(InvalidArgument):
        check_url("ftp://10.0.0.1/", allow_private=True)


def test_public_urls_pass() -> None:
    assert check_url("https://hooks.example.com/a?b=c", allow_private=False) == "https://hooks.example.com/a?b=c"


def test_one_internal_address_among_public_ones_refuses_the_name() -> None:
    """A name answering a public and an internal address would let the connect pick the internal one."""
    addresses = [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.1")]
    with pytest.raises(ForbiddenTarget, match=r"hooks\.example\.com resolves to a private address"):
        check_addresses("hooks.example.com", addresses)
    check_addresses("hooks.example.com", addresses[:1])
