"""Reading license keys offline (docs/KEY_FORMAT.md), with keys built here and by the portal."""

import uuid
from datetime import UTC, datetime

import pytest
from licensing_agent.keys import KeyFormatError, parse_key

from tests.agent.support import Signer, crc

ORG = uuid.UUID("5b1f2e0a-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
ISSUED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["machine", "temporary", "server", "trial"])
def test_a_key_tells_kind_organization_and_issue_date(kind):
    signer = Signer()
    key = parse_key(signer.license_key(kind, ORG, ISSUED))
    assert (key.kind, key.organization_id, key.issued_at) == (kind, ORG, ISSUED)
    assert key.verify([signer.private_key.public_key()])
    assert not key.verify([Signer().private_key.public_key()])
    assert not key.verify([])


def test_white_space_around_is_ignored():
    text = Signer().license_key("machine", ORG, ISSUED)
    assert parse_key(f"  {text}\n").text == text


def test_a_typo_fails_the_checksum():
    text = Signer().license_key()
    typo = text[:20] + ("A" if text[20] != "A" else "B") + text[21:]
    with pytest.raises(KeyFormatError, match="checksum"):
        parse_key(typo)


def test_keys_are_case_sensitive():
    text = Signer().license_key()
    with pytest.raises(KeyFormatError):
        parse_key(text.lower())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda text: text[:-1], "156 characters"),
        (lambda text: "LP2" + text[3:], "version 1"),
        (lambda text: text[:3] + "X" + text[4:], "kind letter"),
        (lambda text: text[:4] + "_" + text[5:], "version 1"),
    ],
)
def test_malformed_keys_say_why(mutate, message):
    with pytest.raises(KeyFormatError, match=message):
        parse_key(mutate(Signer().license_key()))


def _rechecksum(head: str) -> str:
    return f"{head}-{crc(head)}"


def test_a_kind_letter_changed_with_a_fixed_checksum_is_caught():
    text = Signer().license_key("temporary", ORG, ISSUED)
    forged = _rechecksum("LP1M" + text[4:-9])
    with pytest.raises(KeyFormatError, match="disagree"):
        parse_key(forged)


def test_a_tampered_body_with_a_fixed_checksum_fails_the_signature():
    """Someone edits the issue date (for a longer grace period) and recomputes the CRC."""
    import base64
    import struct

    signer = Signer()
    text = signer.license_key("machine", ORG, ISSUED)
    body = bytearray(base64.urlsafe_b64decode(text[5:-9] + "=="))
    body[18:26] = struct.pack(">Q", int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()))
    tampered = _rechecksum("LP1M-" + base64.urlsafe_b64encode(bytes(body)).rstrip(b"=").decode())
    key = parse_key(tampered)  # well formed...
    assert key.issued_at.year == 2030
    assert not key.verify([signer.private_key.public_key()])  # ...but not issued by the portal


def test_the_portal_and_the_agent_read_each_others_keys():
    from licenses import keyformat

    signer = Signer()
    portal_text = keyformat.key_build(
        kind="server", organization_id=ORG, issued_at=ISSUED, private_key=signer.private_key
    )
    key = parse_key(portal_text)
    assert (key.kind, key.organization_id, key.issued_at) == ("server", ORG, ISSUED)
    assert key.verify([signer.private_key.public_key()])

    agent_text = signer.license_key("trial", ORG, ISSUED)
    portal_key = keyformat.key_parse(agent_text)
    assert (portal_key.kind, portal_key.organization_id) == ("trial", ORG)
    assert portal_key.verify([signer.private_key.public_key()])
