"""Property tests for the key format and the machine UID (hypothesis)."""

from __future__ import annotations

import string
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from environments.fingerprint import FingerprintError, fingerprint_parse, machine_uid_normalize, normalize_mac
from licenses import keyformat

PRIVATE_KEY = Ed25519PrivateKey.generate()
ALPHABET = string.ascii_letters + string.digits + "-_"

keys = st.builds(
    lambda kind, org, seconds, random_bytes: keyformat.key_build(
        kind=kind,
        organization_id=org,
        issued_at=datetime.fromtimestamp(seconds, tz=UTC),
        private_key=PRIVATE_KEY,
        random_bytes=random_bytes,
    ),
    st.sampled_from(list(keyformat.KIND_CODES)),
    st.uuids(),
    st.integers(min_value=0, max_value=253_402_300_799),  # up to 9999-12-31
    st.binary(min_size=16, max_size=16),
)


@given(keys)
def test_a_built_key_parses_back_and_verifies(text):
    parsed = keyformat.key_parse(text)
    assert parsed.text == text and len(text) == keyformat.KEY_LENGTH
    assert parsed.verify([PRIVATE_KEY.public_key()])
    assert not parsed.verify([Ed25519PrivateKey.generate().public_key()])


@settings(max_examples=300)
@given(keys, st.data())
def test_any_single_character_change_is_caught(text, data):
    position = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET + "."))
    if replacement == text[position]:
        return
    changed = text[:position] + replacement + text[position + 1 :]
    try:
        keyformat.key_parse(changed)
    except keyformat.KeyFormatError:
        return
    raise AssertionError(f"a change at {position} went unnoticed")


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_parsing_raises_only_the_documented_error(text):
    try:
        keyformat.key_parse(text)
    except keyformat.KeyFormatError:
        pass
    assert keyformat.key_route(text) is None or len(text.strip()) == keyformat.KEY_LENGTH


@given(keys, st.sampled_from(["", " ", "\n"]))
def test_a_keys_route_is_what_parsing_it_reads(text, padding):
    """The agent API routes a call (rate limits, cached rows) by the kind and organization that
    ``key_route`` reads: the same as the full parse, around whitespace too."""
    parsed = keyformat.key_parse(text)
    assert keyformat.key_route(padding + text + padding) == (parsed.kind, str(parsed.organization_id))


@settings(max_examples=300)
@given(keys, st.data())
def test_a_typo_in_a_key_leaves_it_without_a_route(text, data):
    """Any one character changed in the routed part (prefix, kind, the body's first 24 characters,
    checksum) gives no route, so no call is counted or cached under another organization."""
    position = data.draw(st.sampled_from([*range(0, 29), *range(len(text) - 9, len(text))]))
    replacement = data.draw(st.sampled_from(ALPHABET + "."))
    if replacement == text[position]:
        return
    assert keyformat.key_route(text[:position] + replacement + text[position + 1 :]) is None


@given(
    st.text(min_size=1, max_size=40),
    st.text(min_size=1, max_size=40),
    st.text(min_size=1, max_size=40),
    st.text(min_size=1, max_size=20),
)
def test_fingerprint_normalisation_is_idempotent(mac, cpu_id, hostname, version):
    raw = {"mac": mac, "cpu_id": cpu_id, "hostname": hostname, "product_version": version}
    try:
        once = fingerprint_parse(raw)
    except FingerprintError:
        return
    twice = fingerprint_parse({**once.as_components(), "product_version": once.version})
    assert twice.uid == once.uid and twice.as_components() == once.as_components()
    assert normalize_mac(once.mac) == once.mac


@given(st.binary(min_size=32, max_size=32), st.lists(st.sampled_from([" ", "-", "\t"]), max_size=10), st.booleans())
def test_machine_uid_normalisation_is_idempotent(raw, separators, upper):
    uid = raw.hex()
    messy = uid.upper() if upper else uid
    for index, separator in enumerate(separators):
        cut = (index * 7) % len(messy)
        messy = messy[:cut] + separator + messy[cut:]
    assert machine_uid_normalize(messy) == uid
    assert machine_uid_normalize(machine_uid_normalize(messy)) == uid


def test_organization_and_issue_time_are_read_without_the_database():
    org = uuid.uuid4()
    issued = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    text = keyformat.key_build(kind="server", organization_id=org, issued_at=issued, private_key=PRIVATE_KEY)
    parsed = keyformat.key_parse(text)
    assert (parsed.kind, parsed.organization_id, parsed.issued_at) == ("server", org, issued)
    assert text.startswith("LP1S-")
