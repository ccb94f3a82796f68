"""What a key answers an agent: the verdict codes (AGENT_PROTOCOL.md), the call being judged, and
the ``Verdict`` itself. ``LicenseKey.verdict_for`` decides one; the agent API signs and sends it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import models
from django.utils.translation import gettext, gettext_noop

from core.translatable import Message


class Code(models.TextChoices):
    """Verdict codes, in the order they are checked (AGENT_PROTOCOL.md)."""

    NOT_FOUND = "NOT_FOUND"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    EXPIRED = "EXPIRED"
    SUBSCRIPTION_EXPIRED = "SUBSCRIPTION_EXPIRED"
    ENVIRONMENT_DISABLED = "ENVIRONMENT_DISABLED"
    ORGANIZATION_MISMATCH = "ORGANIZATION_MISMATCH"
    MACHINE_NOT_REGISTERED = "MACHINE_NOT_REGISTERED"
    TRANSFER_LIMIT = "TRANSFER_LIMIT"
    FINGERPRINT_MISMATCH = "FINGERPRINT_MISMATCH"
    NOT_ACTIVATED = "NOT_ACTIVATED"
    VALID = "VALID"
    DEACTIVATED = "DEACTIVATED"


LICENSE_VALID = gettext_noop("License valid.")
LICENSE_VALID_UNTIL = gettext_noop("License valid until %(ends)s UTC.")
ANOTHER_ORGANIZATION = gettext_noop("This machine is registered to another organization.")


class Action(models.TextChoices):
    ACTIVATE = "activate"
    VALIDATE = "validate"
    DEACTIVATE = "deactivate"


@dataclass
class Verdict:
    """A verdict: its ``code`` (the contract) and ``detail``, its English text for a person.
    ``message`` is that text as a ``Message`` where it has values (a valid verdict's is made only when
    asked, from ``valid_until``); a detail without values is its own msgid. ``translated_detail()``
    gives it in the active language."""

    code: str
    detail: str
    changed: list[str] = field(default_factory=list)
    is_move: bool = False
    message: Message | None = None
    valid_until: datetime | None = None  # a VALID verdict's end, in UTC: its detail is LICENSE_VALID_UNTIL

    @property
    def detail_message(self) -> Message | None:
        if self.valid_until is not None:
            return Message(LICENSE_VALID_UNTIL, {"ends": self.valid_until})
        return self.message

    @classmethod
    def of(cls, code: str, message: Message, **kwargs) -> Verdict:
        return cls(code, str(message), message=message, **kwargs)

    def translated_detail(self) -> str:
        message = self.detail_message
        if message is not None:
            return message.translated()
        return gettext(self.detail) if self.detail else ""

    @property
    def valid(self) -> bool:
        return self.code == Code.VALID
