"""Address normalisation: identity key, punycode host, registrable domain, public mailboxes. Pure."""

from __future__ import annotations

import pytest

from streams.core.addresses import (
    SHIPPED_PUBLIC_DOMAINS,
    Address,
    InvalidAddress,
    PublicMailboxes,
    ascii_host,
    normalize_address,
    registrable_domain,
)


@pytest.mark.parametrize(
    ("text", "key", "host", "domain"),
    [
        ("Alice@Mail.Example.COM", "alice@mail.example.com", "mail.example.com", "example.com"),
        ("x@mail.corp.co.uk", "x@mail.corp.co.uk", "mail.corp.co.uk", "corp.co.uk"),
        ("x@a.b.c.example.org", "x@a.b.c.example.org", "a.b.c.example.org", "example.org"),
        ("bob@bücher.de", "bob@xn--bcher-kva.de", "xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("bob@BÜCHER.DE", "bob@xn--bcher-kva.de", "xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("bob@xn--bcher-kva.de", "bob@xn--bcher-kva.de", "xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("x@Shop.Example.com.", "x@shop.example.com", "shop.example.com", "example.com"),
        ("  x@example.com\t", "x@example.com", "example.com", "example.com"),
        # Private PSL suffixes are not registries: the registrable name is github.io itself.
        ("x@me.github.io", "x@me.github.io", "me.github.io", "github.io"),
    ],
)
def test_normalisation(text, key, host, domain):
    address = normalize_address(text)
    assert address == Address(original=text, key=key, host=host, domain=domain)


def test_the_original_text_is_kept_as_sent():
    assert normalize_address("Alice@Example.COM").original == "Alice@Example.COM"


def test_the_same_mailbox_in_different_case_has_one_identity():
    assert normalize_address("Bob@EXAMPLE.com").key == normalize_address("bob@example.COM").key


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("alice.example.com", "no local part and domain separated by '@'"),
        ("@example.com", "no local part and domain separated by '@'"),
        ("", "the address is empty"),
        ("   ", "the address is empty"),
        ("x@[192.0.2.1]", "address literals have no domain to check"),
        ("x@192.0.2.1", "the domain is an IP address"),
        ("x@co.uk", "is a public suffix, not a registrable domain"),
        ("x@com.", "the domain has no top-level domain"),
        ("x@example.notatld", "is not under a known top-level domain"),
        ("x@localhost", "the domain has no top-level domain"),
        ("x@", "the domain is empty"),
        ("a b@example.com", "the local part contains spaces or control characters"),
        ("x@exa_mple.com", "not a valid internationalised name"),
        ("l" * 65 + "@example.com", "the local part is longer than 64 characters"),
        ("x@" + "a" * 330 + ".com", "the address is longer than 320 characters"),
    ],
)
def test_invalid_addresses_are_rejected_with_a_reason(text, reason):
    with pytest.raises(InvalidAddress) as caught:
        normalize_address(text)
    assert reason in str(caught.value)


def test_a_host_over_253_characters_is_rejected():
    host = ".".join(["a" * 63] * 4) + ".com"
    assert len(host) > 253
    with pytest.raises(InvalidAddress):
        normalize_address("x@" + host)


@pytest.mark.parametrize("value", [None, 42, b"x@example.com", ["x@example.com"]])
def test_non_strings_are_rejected(value):
    with pytest.raises(InvalidAddress, match="expected the address as a string"):
        normalize_address(value)


def test_a_quoted_local_part_may_contain_spaces():
    assert normalize_address('"a b"@example.com').key == '"a b"@example.com'


def test_ascii_host_and_registrable_domain_directly():
    assert ascii_host(" Mail.Bücher.DE. ") == "mail.xn--bcher-kva.de"
    assert registrable_domain("deep.mail.corp.co.uk") == "corp.co.uk"
    with pytest.raises(InvalidAddress, match="public suffix"):
        registrable_domain("co.uk")


# --- public mailbox providers -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["someone@gmail.com", "someone@GMail.COM", "a@hotmail.co.uk", "a@yahoo.com.au"])
def test_public_mailbox_domains_are_detected(text):
    assert normalize_address(text).domain in PublicMailboxes()


@pytest.mark.parametrize("text", ["a@example.com", "a@corp.co.uk", "a@mail.google.com"])
def test_custom_domains_are_not_public(text):
    assert normalize_address(text).domain not in PublicMailboxes()


def test_the_shipped_list_is_loaded_without_comments():
    assert "gmail.com" in SHIPPED_PUBLIC_DOMAINS
    assert not any(name.startswith("#") or " " in name for name in SHIPPED_PUBLIC_DOMAINS)


def test_extra_public_domains_are_normalised_to_registrable_domains():
    public = PublicMailboxes(frozenset({"Mail.Corp.Co.UK", "post.bücher.de"}))
    assert "corp.co.uk" in public
    assert "xn--bcher-kva.de" in public
    assert "gmail.com" in public  # the shipped list stays
    assert "corp.co.uk" not in PublicMailboxes()
