"""Tests for linkage.keys: identities, cards, linkage-key agreement, pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import InputError, KeyMaterialError
from linkage.protocol import (
    UNSEEN_PREFIX,
    Identity,
    agree_linkage_key,
    card_fingerprint,
    card_from_json,
    card_to_json,
    derive_linkage_key,
    generate_identity,
    households_of,
    identity_from_pem,
    identity_from_private_bytes,
    identity_to_pem,
    pseudonymize,
    validate_exchange_id,
    validate_party_name,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "keys.json").read_text(encoding="utf-8")
)


def golden_identity(role: str) -> Identity:
    party = VECTORS["parties"][role]
    return identity_from_private_bytes(
        party["name"],
        role,
        bytes.fromhex(party["signing_private"]),
        bytes.fromhex(party["exchange_private"]),
    )


@pytest.fixture(scope="module")
def campaign() -> Identity:
    return golden_identity("campaign")


@pytest.fixture(scope="module")
def provider() -> Identity:
    return golden_identity("provider")


@pytest.fixture(scope="module")
def matcher() -> Identity:
    return golden_identity("matcher")


# --- reference implementations (slow, obviously correct: RFC 5869 by hand) ----------


def ref_hkdf_expand(prk: bytes, info: bytes, length: int = 32) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def ref_linkage_key(shared: bytes, exchange_id: str, pub_a: bytes, pub_b: bytes) -> bytes:
    salt = hashlib.sha256(b"narwhal/v1/exchange\x00" + exchange_id.encode()).digest()
    prk = hmac.new(salt, shared, hashlib.sha256).digest()
    low, high = sorted((pub_a, pub_b))
    return ref_hkdf_expand(prk, b"narwhal/v1/linkage" + low + high)


def ref_card_fingerprint(role: str, signing: bytes, exchange: bytes) -> str:
    def lp(b: bytes) -> bytes:
        return len(b).to_bytes(4, "big") + b

    data = b"narwhal/v1/card" + lp(role.encode()) + lp(signing) + lp(exchange)
    return hashlib.sha256(data).hexdigest()[:32]


# --- identities and cards ----------------------------------------------------------


def test_identity_repr_hides_key_material(campaign: Identity) -> None:
    text = repr(campaign)
    party = VECTORS["parties"]["campaign"]
    assert "golden-campaign" in text
    assert campaign.fingerprint in text
    assert party["signing_private"] not in text
    assert party["exchange_private"] not in text
    assert "PRIVATE" not in text
    assert "Ed25519PrivateKey" not in text


def test_generate_identity_validates_name_and_role() -> None:
    ident = generate_identity("acme-tv", "provider")
    assert ident.role == "provider"
    assert len(ident.signing_public) == 32 and len(ident.exchange_public) == 32
    with pytest.raises(InputError, match="unknown role"):
        generate_identity("acme", "broadcaster")
    with pytest.raises(InputError, match="invalid party name"):
        generate_identity("../etc", "provider")


def test_golden_public_keys_and_fingerprints() -> None:
    for role, party in VECTORS["parties"].items():
        ident = golden_identity(role)
        assert ident.signing_public.hex() == party["signing_public"]
        assert ident.exchange_public.hex() == party["exchange_public"]
        assert ident.fingerprint == party["fingerprint"]
        assert (
            ref_card_fingerprint(role, ident.signing_public, ident.exchange_public)
            == party["fingerprint"]
        )


def test_fingerprint_binds_role(campaign: Identity) -> None:
    as_provider = card_fingerprint("provider", campaign.signing_public, campaign.exchange_public)
    assert as_provider != campaign.fingerprint


def test_card_json_round_trip(campaign: Identity) -> None:
    card = campaign.card()
    text = card_to_json(card)
    assert card_from_json(text, file="c.json") == card
    doc = json.loads(text)
    assert doc["signing_public"] == campaign.signing_public.hex()


def _tampered(card_text: str, **changes: str) -> str:
    doc = json.loads(card_text)
    doc.update(changes)
    return json.dumps(doc)


def test_tampered_card_rejected(campaign: Identity, provider: Identity) -> None:
    text = card_to_json(campaign.card())
    with pytest.raises(KeyMaterialError, match="fingerprint does not match") as info:
        card_from_json(_tampered(text, role="provider"), file="c.json")
    assert info.value.file == "c.json"
    swapped = _tampered(text, exchange_public=provider.exchange_public.hex())
    with pytest.raises(KeyMaterialError, match="fingerprint does not match"):
        card_from_json(swapped)
    with pytest.raises(KeyMaterialError, match="fingerprint does not match"):
        card_from_json(_tampered(text, fingerprint="0" * 32))


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("not json", InputError, "not valid JSON"),
        ("[]", InputError, "JSON object"),
        ('{"name": "x"}', InputError, "missing"),
    ],
)
def test_malformed_card_rejected(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        card_from_json(text)


def test_card_field_validation(campaign: Identity) -> None:
    text = card_to_json(campaign.card())
    doc = json.loads(text)
    doc["extra"] = 1
    with pytest.raises(InputError, match="unknown extra"):
        card_from_json(json.dumps(doc))
    with pytest.raises(InputError, match="unsupported party card format"):
        card_from_json(_tampered(text, format="narwhal-card/9"))
    with pytest.raises(InputError, match="unknown role"):
        card_from_json(_tampered(text, role="admin"))
    with pytest.raises(InputError, match="invalid party name"):
        card_from_json(_tampered(text, name="a/b"))
    with pytest.raises(KeyMaterialError, match="64 lowercase hex"):
        card_from_json(_tampered(text, signing_public="zz" * 32))
    with pytest.raises(KeyMaterialError, match="64 lowercase hex"):
        card_from_json(_tampered(text, exchange_public="ab" * 31))


def test_pem_round_trip(campaign: Identity) -> None:
    signing_pem, exchange_pem = identity_to_pem(campaign)
    back = identity_from_pem("golden-campaign", "campaign", signing_pem, exchange_pem)
    assert back.fingerprint == campaign.fingerprint
    with pytest.raises(KeyMaterialError, match="not an Ed25519"):
        identity_from_pem("x", "campaign", exchange_pem, exchange_pem)
    with pytest.raises(KeyMaterialError, match="unreadable private key") as info:
        identity_from_pem("x", "campaign", b"garbage", exchange_pem, signing_file="s.key")
    assert info.value.file == "s.key"


# --- exchange ids ------------------------------------------------------------------


@pytest.mark.parametrize("good", ["x", "2024-ohio_gen.v1", "A" * 64, "_a", "-a"])
def test_valid_exchange_ids(good: str) -> None:
    assert validate_exchange_id(good) == good
    # Party names were once held to the same alphabet: those cards still load.
    assert validate_party_name(good) == good


@pytest.mark.parametrize("bad", ["", ".hidden", "a/b", "..", "a b", "A" * 65, "é", "a\x1fb"])
def test_invalid_exchange_ids(bad: str) -> None:
    with pytest.raises(InputError, match="invalid exchange id"):
        validate_exchange_id(bad)


@pytest.mark.parametrize(
    "good", ["Acme TV", "O'Brien & Sons (Ohio)", "x", "acme-tv.v2", "A" * 64, "_a", "-a", "a."]
)
def test_party_names_may_hold_spaces(good: str) -> None:
    # A display name never names a file: contacts are filed by role and fingerprint.
    assert validate_party_name(good) == good
    assert generate_identity(good, "provider").card().name == good


@pytest.mark.parametrize(
    "bad",
    ["", " lead", "trail ", ".hidden", "a/b", "..", "A" * 65, "é", "a\x1fb", "[red]x", "a\nb"],
)
def test_invalid_party_names(bad: str) -> None:
    with pytest.raises(InputError, match="invalid party name"):
        validate_party_name(bad)


# --- linkage key -------------------------------------------------------------------


def test_both_sides_derive_the_same_key(campaign: Identity, provider: Identity) -> None:
    ours = agree_linkage_key(campaign, provider.card(), "ex-1")
    theirs = agree_linkage_key(provider, campaign.card(), "ex-1")
    assert ours.fingerprint() == theirs.fingerprint()
    assert ours.subkey("match:mk_addr") == theirs.subkey("match:mk_addr")


def test_matcher_and_other_exchanges_get_different_keys(
    campaign: Identity, provider: Identity, matcher: Identity
) -> None:
    real = derive_linkage_key(
        campaign.exchange_key, provider.exchange_public, "ex-1", campaign.exchange_public
    )
    with_matcher = derive_linkage_key(
        matcher.exchange_key, campaign.exchange_public, "ex-1", matcher.exchange_public
    )
    other_exchange = derive_linkage_key(
        campaign.exchange_key, provider.exchange_public, "ex-2", campaign.exchange_public
    )
    fingerprints = {real.fingerprint(), with_matcher.fingerprint(), other_exchange.fingerprint()}
    assert len(fingerprints) == 3
    assert real.subkey("match:mk_addr") != with_matcher.subkey("match:mk_addr")
    assert real.subkey("match:mk_addr") != other_exchange.subkey("match:mk_addr")


def test_subkeys_differ_per_purpose(campaign: Identity, provider: Identity) -> None:
    key = agree_linkage_key(campaign, provider.card(), "ex-1")
    purposes = ["match:mk_addr", "match:mk_phone", "bloom:surname", "block:zip3"]
    subkeys = [key.subkey(p) for p in purposes]
    assert all(len(s) == 32 for s in subkeys)
    assert len(set(subkeys)) == len(purposes)
    with pytest.raises(ValueError, match="non-empty"):
        key.subkey("")


def test_linkage_key_repr_hides_key(campaign: Identity, provider: Identity) -> None:
    key = agree_linkage_key(campaign, provider.card(), "ex-1")
    text = repr(key)
    assert "ex-1" in text and key.fingerprint() in text
    for purpose in ("match:mk_addr",):
        assert key.subkey(purpose).hex() not in text
    assert len(key.fingerprint()) == 16


def test_golden_linkage_key(campaign: Identity, provider: Identity) -> None:
    vec = VECTORS["linkage"]
    key = agree_linkage_key(campaign, provider.card(), vec["exchange_id"])
    assert key.fingerprint() == vec["key_fingerprint"]
    shared = campaign.exchange_key.exchange(provider.exchange_key.public_key())
    ref_key = ref_linkage_key(
        shared, vec["exchange_id"], campaign.exchange_public, provider.exchange_public
    )
    ref_fp = hashlib.sha256(b"narwhal/v1/linkage-key-fingerprint\x00" + ref_key).hexdigest()
    assert ref_fp[:16] == vec["key_fingerprint"]
    for purpose, expected in vec["subkeys"].items():
        assert key.subkey(purpose).hex() == expected
        ref_sub = ref_hkdf_expand(ref_key, b"narwhal/v1/subkey\x00" + purpose.encode())
        assert ref_sub.hex() == expected


def test_agree_refuses_the_matcher(campaign: Identity, matcher: Identity) -> None:
    with pytest.raises(KeyMaterialError, match="only between a campaign and a provider"):
        agree_linkage_key(campaign, matcher.card(), "ex-1")
    with pytest.raises(KeyMaterialError, match="only between"):
        agree_linkage_key(campaign, campaign.card(), "ex-1")


def test_derive_rejects_bad_inputs(campaign: Identity, provider: Identity) -> None:
    own, own_pub = campaign.exchange_key, campaign.exchange_public
    with pytest.raises(KeyMaterialError, match="does not belong"):
        derive_linkage_key(own, provider.exchange_public, "ex", provider.exchange_public)
    with pytest.raises(KeyMaterialError, match="oneself"):
        derive_linkage_key(own, own_pub, "ex", own_pub)
    with pytest.raises(KeyMaterialError, match="32 bytes"):
        derive_linkage_key(own, b"\x01" * 31, "ex", own_pub)
    with pytest.raises(KeyMaterialError, match="degenerate"):
        derive_linkage_key(own, bytes(32), "ex", own_pub)
    with pytest.raises(InputError, match="invalid exchange id"):
        derive_linkage_key(own, provider.exchange_public, "../x", own_pub)


@settings(max_examples=40, deadline=None)
@given(
    a=st.binary(min_size=32, max_size=32),
    b=st.binary(min_size=32, max_size=32),
    exchange=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True),
)
def test_agreement_is_symmetric(a: bytes, b: bytes, exchange: str) -> None:
    ca = identity_from_private_bytes("a", "campaign", a, a)
    pb = identity_from_private_bytes("b", "provider", b, b)
    if ca.exchange_public == pb.exchange_public:
        return
    assert (
        agree_linkage_key(ca, pb.card(), exchange).fingerprint()
        == agree_linkage_key(pb, ca.card(), exchange).fingerprint()
    )


# --- pseudonyms --------------------------------------------------------------------


def test_golden_pseudonyms() -> None:
    vec = VECTORS["pseudonyms"]
    secret = bytes.fromhex(vec["secret"])
    assert pseudonymize(secret, vec["exchange_id"], vec["ids"]) == vec["expected"]
    ref = [
        hmac.new(secret, f"{vec['exchange_id']}\x1f{i}".encode(), hashlib.sha256).hexdigest()[:32]
        for i in vec["ids"]
    ]
    assert ref == vec["expected"]


def test_pseudonyms_are_per_exchange_and_keyed() -> None:
    ids = [f"HH{i:010d}" for i in range(50)]
    secret = b"\x01" * 32
    one = pseudonymize(secret, "ex-1", ids)
    assert one == pseudonymize(secret, "ex-1", ids)
    assert len(set(one)) == len(ids)
    assert all(len(p) == 32 for p in one)
    assert not set(one) & set(pseudonymize(secret, "ex-2", ids))
    assert not set(one) & set(pseudonymize(b"\x02" * 32, "ex-1", ids))
    assert not set(one) & set(ids)


def test_households_of_inverts_pseudonyms_over_the_candidates() -> None:
    secret = b"\x01" * 32
    ids = [f"HH{i:04d}" for i in range(20)]
    hps = pseudonymize(secret, "ex-1", ids)
    # Only the provider, holding the secret and the candidates, maps back.
    assert households_of(secret, "ex-1", hps[::-1], ids) == ids[::-1]
    # A household the viewing log lacks stays its own household, never merged.
    seen = households_of(secret, "ex-1", hps[:3], ids[1:])
    assert seen == [UNSEEN_PREFIX + hps[0], ids[1], ids[2]]
    # Another exchange's pseudonyms do not map back under this one.
    other = pseudonymize(secret, "ex-2", ids[:2])
    assert households_of(secret, "ex-1", other, ids) == [UNSEEN_PREFIX + h for h in other]


def test_pseudonymize_rejects_short_secret_and_bad_exchange() -> None:
    with pytest.raises(KeyMaterialError, match="at least 32 bytes"):
        pseudonymize(b"short", "ex-1", ["HH1"])
    with pytest.raises(InputError, match="invalid exchange id"):
        pseudonymize(b"\x01" * 32, "ex\x1f1", ["HH1"])
