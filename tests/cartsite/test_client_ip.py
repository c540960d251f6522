"""Client IP as API.md "Tracking events" defines it: forwarding headers only from trusted proxies."""

import pytest

from cartsite.client_ip import client_ip_from_meta, ip_parse, rate_limit_subject

PROXIES = ["10.0.0.0/8", "2001:db8:ffff::/48"]


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        # No proxy configured: the peer, whatever the headers claim.
        ({"REMOTE_ADDR": "203.0.113.7"}, "203.0.113.7"),
        ({"REMOTE_ADDR": "203.0.113.7", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}, "203.0.113.7"),
        ({"REMOTE_ADDR": "203.0.113.7", "HTTP_X_REAL_IP": "198.51.100.1"}, "203.0.113.7"),
        ({"REMOTE_ADDR": "2001:db8::5"}, "2001:db8::5"),
        ({"REMOTE_ADDR": ""}, None),
        ({}, None),
    ],
)
def test_without_trusted_proxies_the_peer_is_the_client(settings, meta, expected):
    settings.TRUSTED_PROXIES = []
    assert client_ip_from_meta(meta) == expected


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        # Direct client (not through the proxy): headers are forged, ignored.
        ({"REMOTE_ADDR": "203.0.113.7", "HTTP_X_FORWARDED_FOR": "1.1.1.1"}, "203.0.113.7"),
        ({"REMOTE_ADDR": "203.0.113.7", "HTTP_X_REAL_IP": "1.1.1.1"}, "203.0.113.7"),
        # Through one trusted proxy: the hop it appended.
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "198.51.100.9"}, "198.51.100.9"),
        # The client forged a left-most entry; the proxy appended the real one: right-most untrusted wins.
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 198.51.100.9"}, "198.51.100.9"),
        # Two trusted proxies in a row are skipped.
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.9, 10.9.9.9"}, "198.51.100.9"),
        # Every hop trusted: the left-most one.
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "10.5.5.5, 10.9.9.9"}, "10.5.5.5"),
        # Garbage passed on by a trusted proxy: the last address it vouched for.
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "not-an-ip, 10.9.9.9"}, "10.9.9.9"),
        # Ports and quoting as some proxies write them.
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "198.51.100.9:5555"}, "198.51.100.9"),
        # X-Real-IP only when there is no X-Forwarded-For.
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_REAL_IP": "198.51.100.10"}, "198.51.100.10"),
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_REAL_IP": "junk"}, "10.1.2.3"),
        ({"REMOTE_ADDR": "10.1.2.3"}, "10.1.2.3"),
        # IPv6 client behind an IPv6 proxy, bracketed with a port.
        ({"REMOTE_ADDR": "2001:db8:ffff::1", "HTTP_X_FORWARDED_FOR": "[2001:db8:1::abcd]:443"}, "2001:db8:1::abcd"),
        # IPv6 client behind an IPv4 proxy.
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "2001:DB8:2::1"}, "2001:db8:2::1"),
        # IPv6 peer that is not trusted: forged header ignored.
        ({"REMOTE_ADDR": "2001:db8:2::1", "HTTP_X_FORWARDED_FOR": "1.1.1.1"}, "2001:db8:2::1"),
        # IPv4-mapped IPv6 peer (dual-stack sockets) counts as the IPv4 proxy.
        ({"REMOTE_ADDR": "::ffff:10.1.2.3", "HTTP_X_FORWARDED_FOR": "198.51.100.9"}, "198.51.100.9"),
    ],
)
def test_with_trusted_proxies_only_their_headers_are_believed(settings, meta, expected):
    settings.TRUSTED_PROXIES = PROXIES
    assert client_ip_from_meta(meta) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("192.0.2.1:8080", "192.0.2.1"),
        ("[2001:db8::1]:8080", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("unknown", None),
        ("", None),
        ("999.1.1.1", None),
    ],
)
def test_ip_parse_accepts_the_spellings_proxies_use(raw, expected):
    parsed = ip_parse(raw)
    assert (str(parsed) if parsed is not None else None) == expected


def test_rate_limit_subject_groups_an_ipv6_host_by_its_64():
    assert rate_limit_subject("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert rate_limit_subject("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert rate_limit_subject("192.0.2.1") == "192.0.2.1"
    assert rate_limit_subject(None) == "unknown"
