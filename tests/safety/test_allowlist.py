"""The allow-list rule (harness.core.allowlist, pure) and its sources (harness.config.allow)."""

from __future__ import annotations

import pytest

from harness.config.allow import Safety, check_target_allowed, install_test_resolver, safety_from
from harness.core.allowlist import judge, parse_entries, parse_entry
from harness.errors import InputError


def entries(*texts):
    return parse_entries(texts)


@pytest.mark.parametrize("host,addresses", [("localhost", ["127.0.0.1"]), ("127.0.0.2", ["127.0.0.2"]),
                                            ("::1", ["::1"])])
def test_loopback_is_always_allowed(host, addresses):
    assert judge(host, 8000, addresses, []).allowed


def test_a_host_not_on_the_list_is_refused_naming_host_addresses_and_flag():
    decision = judge("staging.example.com", 443, ["10.0.0.5"], entries("other.example.com"))
    assert not decision.allowed
    assert "staging.example.com:443" in decision.reason and "10.0.0.5" in decision.reason
    assert decision.suggestion == "--allow-host staging.example.com:443"


def test_a_name_that_resolves_to_loopback_still_needs_to_be_listed():
    assert not judge("staging.test", 80, ["127.0.0.1"], []).allowed
    assert judge("staging.test", 80, ["127.0.0.1"], entries("staging.test")).allowed


def test_a_listed_name_must_also_resolve_inside_the_list():
    listed = entries("staging.example.com")
    decision = judge("staging.example.com", 443, ["10.0.0.5"], listed)
    assert not decision.allowed and "10.0.0.5" in decision.reason and decision.suggestion == "--allow-host 10.0.0.5"
    assert judge("staging.example.com", 443, ["10.0.0.5"], entries("staging.example.com", "10.0.0.0/24")).allowed
    assert not judge("staging.example.com", 443, ["10.0.0.5", "10.9.9.9"],
                     entries("staging.example.com", "10.0.0.0/24")).allowed


def test_ports_and_literals():
    assert judge("10.0.0.5", 8080, ["10.0.0.5"], entries("10.0.0.5:8080")).allowed
    assert not judge("10.0.0.5", 9090, ["10.0.0.5"], entries("10.0.0.5:8080")).allowed
    assert judge("10.0.0.5", 9090, ["10.0.0.5"], entries("10.0.0.0/8")).allowed
    assert judge("fd00::5", 80, ["fd00::5"], entries("[fd00::5]:80")).allowed
    assert not judge("app", 80, ["10.0.0.5"], entries("app:81", "10.0.0.5")).allowed


@pytest.mark.parametrize("bad", ["http://x", "a b", "10.0.0.0/33", "host:0", "host:99999", "[::1", "-", "a..b"])
def test_bad_entries_are_refused(bad):
    with pytest.raises(ValueError):
        parse_entry(bad, "--allow-host")


def test_sources_merge_and_name_where_a_bad_entry_came_from(tmp_path):
    listing = tmp_path / "allow.txt"
    listing.write_text("# staging\nstaging.example.com\n10.0.0.0/24  # its network\n")
    safety = safety_from(["a.example"], listing, None, environ={"HARNESS_ALLOW_HOSTS": "b.example,10.1.0.1:80"})
    assert [e.text for e in safety.entries] == ["a.example", "b.example", "10.1.0.1:80", "staging.example.com",
                                                "10.0.0.0/24"]
    listing.write_text("ok.example\nhttp://bad\n")
    with pytest.raises(InputError, match=r"allow.txt line 2"):
        safety_from([], listing, None, environ={})
    with pytest.raises(InputError, match="HARNESS_ALLOW_HOSTS"):
        safety_from([], None, None, environ={"HARNESS_ALLOW_HOSTS": "x:y"})
    with pytest.raises(InputError, match="--allow-hosts-file"):
        safety_from([], tmp_path / "missing", None, environ={})
    with pytest.raises(InputError, match="--ca-bundle"):
        safety_from([], None, tmp_path / "missing.pem", environ={})


def test_a_documentation_address_is_refused_without_any_connection():
    """192.0.2.1 (TEST-NET-1) is never contacted: the refusal comes from the rule, before any socket."""
    with pytest.raises(InputError, match=r"--target http://192.0.2.1:9: refused before any connection.*"
                                         r"--allow-host 192.0.2.1:9"):
        check_target_allowed("http://192.0.2.1:9", "--target", Safety())


def test_tls_is_reported(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    checked = check_target_allowed("https://127.0.0.1:8443/", "--target", safety_from([], None, bundle, environ={}))
    assert checked.url == "https://127.0.0.1:8443" and "CA bundle" in checked.tls
    assert check_target_allowed("http://localhost:1", "--host", Safety()).tls == "none (http)"


def test_the_test_resolver_only_maps_to_loopback():
    with pytest.raises(InputError, match="HARNESS_TEST_RESOLVE"):
        install_test_resolver({"HARNESS_TEST_RESOLVE": "evil.test=10.0.0.1"})
