"""The license key text format (docs/KEY_FORMAT.md): build, parse, check.

Pure functions: no database, no settings. Signing and verification take the
key objects from ``licenses.signing``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "LP1"
VERSION = 1
KEY_LENGTH = 156
BODY_LENGTH = 106
SIGNED_LENGTH = 42
SIGNATURE_CONTEXT = b"LP1-key\n"

KIND_LETTERS = {"machine": "M", "temporary": "T", "server": "S", "trial": "R", "free": "F"}
KIND_CODES = {"machine": 1, "temporary": 2, "server": 3, "trial": 4, "free": 5}
LETTER_KINDS = {letter: kind for kind, letter in KIND_LETTERS.items()}
CODE_KINDS = {code: kind for kind, code in KIND_CODES.items()}


class KeyFormatError(ValueError):
    """The text is not a well-formed license key (a typo or not a key at all)."""


@dataclass(frozen=True)
class ParsedKey:
    text: str
    kind: str
    organization_id: uuid.UUID
    issued_at: datetime
    signed_part: bytes
    signature: bytes

    def verify(self, public_keys: list[Ed25519PublicKey]) -> bool:
        """True if one of ``public_keys`` made the key's signature."""
        message = SIGNATURE_CONTEXT + self.signed_part
        for public_key in public_keys:
            try:
                public_key.verify(self.signature, message)
            except InvalidSignature:
                continue
            return True
        return False


def _checksum(text: str) -> str:
    return format(zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF, "08x")


def key_build(
    *,
    kind: str,
    organization_id: uuid.UUID,
    issued_at: datetime,
    private_key: Ed25519PrivateKey,
    random_bytes: bytes | None = None,
) -> str:
    """Return a new key's text, signed with ``private_key``."""
    random_part = os.urandom(16) if random_bytes is None else random_bytes
    if len(random_part) != 16:
        raise ValueError("a key needs exactly 16 random bytes")
    seconds = int(issued_at.timestamp())
    signed = (
        struct.pack(">BB", VERSION, KIND_CODES[kind]) + organization_id.bytes + struct.pack(">Q", seconds) + random_part
    )
    signature = private_key.sign(SIGNATURE_CONTEXT + signed)
    body = base64.urlsafe_b64encode(signed + signature).rstrip(b"=").decode("ascii")
    head = f"{PREFIX}{KIND_LETTERS[kind]}-{body}"
    return f"{head}-{_checksum(head)}"


def _shape_error(text: str) -> str | None:
    """Why ``text`` (stripped) is not shaped like a key, or None: length, characters, prefix, kind
    letter and checksum, the checks that both ``key_parse`` and ``key_route`` make."""
    if len(text) != KEY_LENGTH:
        return f"a license key has {KEY_LENGTH} characters, this one {len(text)}"
    if not text.isascii():
        return "a license key has only ASCII characters"
    if text[:3] != PREFIX or text[4] != "-" or text[-9] != "-":
        return "this is not a version 1 license key (LP1…)"
    if text[3] not in LETTER_KINDS:
        return f"unknown key kind letter {text[3]!r}"
    if text[-8:] != _checksum(text[:-9]):
        return "the key's checksum does not match: check for a typo"
    return None


def key_parse(text: str) -> ParsedKey:
    """Parse and checksum-check a key; raise ``KeyFormatError`` saying why not."""
    if not isinstance(text, str):
        raise KeyFormatError("a license key is text")
    text = text.strip()
    error = _shape_error(text)
    if error is not None:
        raise KeyFormatError(error)
    letter = text[3]
    body_text = text[5:-9]
    try:
        body = base64.urlsafe_b64decode(body_text + "==")
    except (binascii.Error, ValueError) as error:
        raise KeyFormatError("the key's body is not base64url") from error
    if len(body) != BODY_LENGTH or base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii") != body_text:
        raise KeyFormatError("the key's body has the wrong length")
    version, kind_code = struct.unpack(">BB", body[:2])
    if version != VERSION:
        raise KeyFormatError(f"unsupported key body version {version}")
    if CODE_KINDS.get(kind_code) != LETTER_KINDS[letter]:
        raise KeyFormatError("the key's kind letter and body disagree")
    (seconds,) = struct.unpack(">Q", body[18:26])
    try:
        issued_at = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise KeyFormatError("the key's issue time is out of range") from error
    return ParsedKey(
        text=text,
        kind=LETTER_KINDS[letter],
        organization_id=uuid.UUID(bytes=body[2:18]),
        issued_at=issued_at,
        signed_part=body[:SIGNED_LENGTH],
        signature=body[SIGNED_LENGTH:],
    )


def key_route(text: str) -> tuple[str, str] | None:
    """The kind and organization (its UUID as text) that a key's text names, or None if it is not
    shaped like a key: the length, prefix, kind letter and checksum, and the body's first 18 bytes.

    The agent API routes every call by these before it looks the key up (its rate limits and its
    cached rows are kept per organization), and the lookup by digest decides the rest: so this reads
    only the part of the body it needs, for a fifth of ``key_parse``'s CPU.
    """
    text = text.strip()
    if _shape_error(text) is not None:
        return None
    kind = LETTER_KINDS[text[3]]
    try:
        head = base64.urlsafe_b64decode(text[5:29])  # 24 characters: version, kind, organization
    except (binascii.Error, ValueError):
        return None
    if head[0] != VERSION or CODE_KINDS.get(head[1]) != kind:
        return None
    digits = head[2:18].hex()
    return kind, f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def key_digest(text: str) -> str:
    """The look-up digest stored for a key: hex SHA-256 of its canonical text."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()
