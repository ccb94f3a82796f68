"""Reading a license key offline (docs/KEY_FORMAT.md): kind, organization, issue date, checksum, signature.

``LP1<kind letter>-<base64url body of 106 bytes>-<crc32 hex>``, 156 characters. The body is
version, kind code, organization UUID, issue time, 16 random bytes, and an Ed25519 signature
over ``b"LP1-key\\n" + body[:42]`` made with one of the portal's signing keys (no kid: try each).
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PREFIX = "LP1"
KEY_LENGTH = 156
BODY_LENGTH = 106
SIGNED_LENGTH = 42
SIGNATURE_CONTEXT = b"LP1-key\n"
LETTER_KINDS = {"M": "machine", "T": "temporary", "S": "server", "R": "trial", "F": "free"}
CODE_KINDS = {1: "machine", 2: "temporary", 3: "server", 4: "trial", 5: "free"}


class KeyFormatError(ValueError):
    """The text is not a well-formed license key; the message says why (a typo, most often)."""


@dataclass(frozen=True)
class LicenseKey:
    """A parsed, checksum-checked key. ``verify`` checks its signature against trusted keys."""

    text: str
    kind: str
    organization_id: uuid.UUID
    issued_at: datetime
    signed_part: bytes
    signature: bytes

    def verify(self, public_keys: Iterable[Ed25519PublicKey]) -> bool:
        """True if one of ``public_keys`` made this key's signature (the portal issued it)."""
        message = SIGNATURE_CONTEXT + self.signed_part
        for public_key in public_keys:
            try:
                public_key.verify(self.signature, message)
            except InvalidSignature:
                continue
            return True
        return False


def checksum(text: str) -> str:
    """Lower-case hex CRC-32 (IEEE) of the ASCII text before the last ``-``."""
    return format(zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF, "08x")


def parse_key(text: str) -> LicenseKey:
    """Parse and checksum-check a key, offline; raise ``KeyFormatError`` saying what is wrong."""
    if not isinstance(text, str):
        raise KeyFormatError("a license key is text")
    text = text.strip()
    if len(text) != KEY_LENGTH:
        raise KeyFormatError(f"a license key has {KEY_LENGTH} characters, this one has {len(text)}")
    if not text.isascii():
        raise KeyFormatError("a license key has only ASCII characters")
    if text[:3] != PREFIX or text[4] != "-" or text[-9] != "-":
        raise KeyFormatError("this is not a version 1 license key (LP1...)")
    letter = text[3]
    if letter not in LETTER_KINDS:
        raise KeyFormatError(f"unknown key kind letter {letter!r}")
    head, check = text[:-9], text[-8:]
    if check != checksum(head):
        raise KeyFormatError("the key's checksum does not match: check it for a typo")
    body_text = head[5:]
    try:
        body = base64.urlsafe_b64decode(body_text + "==")
    except (binascii.Error, ValueError) as error:
        raise KeyFormatError("the key's body is not base64url") from error
    if len(body) != BODY_LENGTH or base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii") != body_text:
        raise KeyFormatError("the key's body has the wrong length")
    version, kind_code = struct.unpack(">BB", body[:2])
    if version != 1:
        raise KeyFormatError(f"unsupported key body version {version}")
    if CODE_KINDS.get(kind_code) != LETTER_KINDS[letter]:
        raise KeyFormatError("the key's kind letter and body disagree")
    (seconds,) = struct.unpack(">Q", body[18:26])
    try:
        issued_at = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise KeyFormatError("the key's issue time is out of range") from error
    return LicenseKey(
        text=text,
        kind=LETTER_KINDS[letter],
        organization_id=uuid.UUID(bytes=body[2:18]),
        issued_at=issued_at,
        signed_part=body[:SIGNED_LENGTH],
        signature=body[SIGNED_LENGTH:],
    )
