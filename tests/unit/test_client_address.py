"""The client address: X-Forwarded-For is believed only from configured proxies."""

from __future__ import annotations

import pytest

from bot.access.client_address import client_address, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1, ::1")


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], ()) == "203.0.113.9"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_claim_another_address() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], PROXIES) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_forwarded_client_is_used() -> None:
    assert client_address("10.0.0.2", ["198.51.100.1"], PROXIES) == "198.51.100.1"


def test_a_forged_first_hop_is_skipped_the_rightmost_untrusted_hop_wins() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the real address.
    headers = ["1.2.3.4, 198.51.100.1"]
    assert client_address("127.0.0.1", headers, PROXIES) == "198.51.100.1"


def test_chains_of_trusted_proxies_are_walked() -> None:
    headers = ["198.51.100.1, 10.1.1.1", "10.2.2.2"]
    assert client_address("10.0.0.2", headers, PROXIES) == "198.51.100.1"


@pytest.mark.parametrize("hop", ["garbage", "", "999.1.1.1"])
def test_a_malformed_hop_stops_the_walk(hop: str) -> None:
    assert client_address("10.0.0.2", [f"{hop}, 10.9.9.9"], PROXIES) == "10.9.9.9"


def test_addresses_with_ports_and_brackets_are_read() -> None:
    assert client_address("::1", ["[2001:db8::7]:443"], PROXIES) == "2001:db8::7"
    assert client_address("10.0.0.1", ["192.0.2.5:5123"], PROXIES) == "192.0.2.5"


def test_no_peer_is_unknown() -> None:
    assert client_address(None, [], PROXIES) == "unknown"


def test_trusted_proxies_setting_parses_addresses_and_networks() -> None:
    assert [str(n) for n in parse_networks(" 10.0.0.0/8 ,::1,,192.168.1.7")] == [
        "10.0.0.0/8", "::1/128", "192.168.1.7/32",
    ]
    with pytest.raises(ValueError):
        parse_networks("not-an-address")
