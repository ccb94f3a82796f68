"""License keys encrypted at rest (Fernet; several keys for rotation, the first encrypts)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@lru_cache(maxsize=1)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(f"ENCRYPTION_KEYS holds a key that is not a Fernet key: {error}") from error


def encrypt(text: str) -> str:
    return _fernet(tuple(settings.ENCRYPTION_KEYS)).encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(tuple(settings.ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ImproperlyConfigured("a stored key cannot be decrypted with ENCRYPTION_KEYS") from error


def validate_configuration() -> None:
    """Fail fast at start-up on a malformed ENCRYPTION_KEYS."""
    _fernet(tuple(settings.ENCRYPTION_KEYS))
