"""The management API's request and answer schemas (what the OpenAPI document says). The answers'
contents come from ``integrations.representations``; these only describe them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from ninja.params.functions import Path
from pydantic import AfterValidator, ConfigDict, Field, field_validator

from organizations.services import (
    MAX_RENEWAL_DAYS,
    MAX_RENEWAL_MONTHS,
    MAX_SUBSCRIPTION_DAYS,
    MAX_TRANSFER_LIMIT,
)


class ErrorBody(Schema):
    code: str
    detail: str
    fields: dict[str, list[str]] | None = None


class ErrorOut(Schema):
    error: ErrorBody


ERROR_STATUSES = (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503)
ERRORS = {status: ErrorOut for status in ERROR_STATUSES}


def storable(value):
    """``value`` (a text, or a list or mapping of them) if PostgreSQL can store it: no NUL character
    (text columns refuse it) and no lone surrogate (it has no UTF-8 form)."""
    texts = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, list | dict):
            storable(text)
        elif isinstance(text, str):
            if "\x00" in text:
                raise ValueError("Must not contain a NUL character.")
            try:
                text.encode()
            except UnicodeEncodeError:
                raise ValueError("Must be valid Unicode (it holds half a surrogate pair).") from None
    return value


Storable = AfterValidator(storable)

# Path parameters: an organization by uuid or slug, an environment by name, a key by public id, a
# machine by UID (any case, spaces or dashes allowed).
OrganizationRef = Annotated[str, Path(max_length=100, description="uuid or slug"), Storable]
EnvironmentName = Annotated[str, Path(max_length=100), Storable]
KeyRef = Annotated[str, Path(max_length=40, description="the key's public id"), Storable]
MachineRef = Annotated[str, Path(max_length=200, description="the machine UID"), Storable]


class Strict(Schema):
    """A request body: unknown fields are refused (a typo is not silently ignored), and every text
    in it must be ``storable``."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable(cls, value):
        return storable(value)


# Organizations --------------------------------------------------------------------------------


class OrganizationOut(Schema):
    uuid: str
    slug: str
    name: str
    status: Literal["active", "suspended"]
    state: Literal["active", "suspended", "lapsed"]
    edition: Literal["paid", "trial", "free"]
    subscription_starts_at: str
    subscription_ends_at: str
    transfer_limit: int
    fingerprint_policy: Literal["strict", "tolerant"]
    created_at: str


class OrganizationList(Schema):
    data: list[OrganizationOut]
    next: str | None


class OrganizationCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    edition: Literal["paid", "trial", "free"] = "paid"
    subscription_days: int | None = Field(None, ge=0, le=MAX_SUBSCRIPTION_DAYS)
    subscription_ends_at: datetime | None = None
    transfer_limit: int | None = Field(None, ge=0, le=MAX_TRANSFER_LIMIT)
    fingerprint_policy: Literal["strict", "tolerant"] | None = None


class OrganizationPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    edition: Literal["paid", "trial", "free"] | None = None
    transfer_limit: int | None = Field(None, ge=0, le=MAX_TRANSFER_LIMIT)
    fingerprint_policy: Literal["strict", "tolerant"] | None = None


class Renewal(Strict):
    months: int | None = Field(None, ge=1, le=MAX_RENEWAL_MONTHS)
    days: int | None = Field(None, ge=1, le=MAX_RENEWAL_DAYS)


# Environments and machines ------------------------------------------------------------------


class EnvironmentOut(Schema):
    uuid: str
    name: str
    status: Literal["enabled", "disabled", "deleted"]
    organization: str
    created_at: str


class EnvironmentList(Schema):
    data: list[EnvironmentOut]
    next: str | None


class EnvironmentCreate(Strict):
    name: str = Field(min_length=1, max_length=100)


class EnvironmentPatch(Strict):
    status: Literal["enabled", "disabled", "deleted"]


class MachineOut(Schema):
    uid: str
    name: str
    hostname: str
    mac: str
    version: str
    environment: str | None
    is_primary: bool
    first_seen_at: str
    last_seen_at: str
    keys: list[str]


class MachineList(Schema):
    data: list[MachineOut]
    next: str | None


class DetachOut(Schema):
    machine: MachineOut
    released_keys: list[str]


# Keys -------------------------------------------------------------------------------------------

KIND = Literal["machine", "temporary", "server", "trial", "free"]


class KeyOut(Schema):
    id: str
    kind: KIND
    status: Literal["active", "inactive", "revoked"]
    state: str
    organization: str
    environment: str | None
    machine_name: str
    machine: str | None
    description: str
    issued_at: str
    expires_at: str | None
    effective_expires_at: str | None
    revoked_at: str | None
    revocation_reason: str


class IssuedKeyOut(KeyOut):
    key: str = Field(description="The key's text, shown in this answer only.")


class KeyList(Schema):
    data: list[KeyOut]
    next: str | None


class KeyIssue(Strict):
    kind: KIND
    environment: str | None = Field(None, description="machine keys: the environment's name")
    ttl: str | None = Field(None, description="temporary keys: 30m, 2h, 7d", max_length=20)
    machine_name: str | None = Field(None, description="server keys: the host name", max_length=255)
    expires_on: date | None = Field(None, description="server keys: valid through this day (UTC)")
    description: str = Field("", max_length=500)


class KeyPatch(Strict):
    description: str | None = Field(None, max_length=500)
    status: Literal["active", "inactive"] | None = None
    expires_on: date | None = None


class Revocation(Strict):
    reason: str = Field("", max_length=500)


class HistoryRowOut(Schema):
    event: str
    machine_uid: str
    code: str
    is_move: bool
    detail: str
    actor: str
    created_at: str


class HistoryList(Schema):
    data: list[HistoryRowOut]
    next: str | None


# Audit ------------------------------------------------------------------------------------------


class AuditEventOut(Schema):
    id: int
    created_at: str
    actor: str
    organization: str | None
    action: str
    object_type: str
    object_id: str
    object_repr: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str


class AuditEventList(Schema):
    data: list[AuditEventOut]
    next: str | None
