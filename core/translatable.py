"""Texts built in English, and built again in the active language only when someone asks.

The agent API answers in English unless a call asks for German (``Accept-Language``): its texts are
made as ``Message``s, whose English is plain ``%`` formatting (no catalogue lookup on the hot path),
and whose ``translated()`` looks the message up with ``gettext`` (the caller chooses the language
with ``translation.override``). Pages show the same texts with ``translated()`` in the page's
language. See docs/I18N.md.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import formats
from django.utils.translation import gettext


class Message:
    """``message`` (an English msgid, marked with ``gettext_noop`` where it is written) with its
    ``%(name)s`` values. A value may be another ``Message`` (a sentence within a sentence) or a
    ``datetime`` in UTC (ISO ``2027-01-15 10:00`` in English, the language's short format else)."""

    __slots__ = ("message", "values")

    def __init__(self, message: str, values: dict | None = None):
        self.message, self.values = message, values

    def __str__(self) -> str:
        if not self.values:
            return self.message
        return self.message % {name: _english(value) for name, value in self.values.items()}

    def __repr__(self) -> str:
        return f"Message({self.message!r}, {self.values!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Message) and (self.message, self.values) == (other.message, other.values)

    __hash__ = None

    def translated(self) -> str:
        """The text in the active language (English where the catalogue has no entry)."""
        message = gettext(self.message) if self.message else ""
        if not self.values:
            return message
        return message % {name: _translated(value) for name, value in self.values.items()}

    @classmethod
    def sentences(cls, *parts: Message | str) -> Message:
        """The parts one after another, separated by a space (each translated on its own)."""
        parts = [part for part in parts if part]
        names = [f"part{index}" for index in range(len(parts))]
        return cls(" ".join(f"%({name})s" for name in names), dict(zip(names, parts, strict=True)))


def _english(value):
    if isinstance(value, datetime):
        return value.isoformat(" ", "minutes")[:16]  # %Y-%m-%d %H:%M, at half strftime's cost
    return value


def _translated(value):
    if isinstance(value, Message):
        return value.translated()
    if isinstance(value, datetime):
        return formats.date_format(value.astimezone(UTC), "SHORT_DATETIME_FORMAT")
    return value
