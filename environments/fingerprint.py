"""Machine fingerprints and machine UIDs, exactly as AGENT_PROTOCOL.md says."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from django.utils.translation import gettext_noop

from core.translatable import Message

COMPONENTS = ("mac", "cpu_id", "hostname", "product_version")
_HEX12 = re.compile(r"^[0-9a-f]{12}$")
_UID = re.compile(r"^[0-9a-f]{64}$")
# C0 controls (NUL, newline, escape...), DEL and the C1 controls: never part of a name or an id, and
# PostgreSQL refuses NUL in text outright.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_COMPONENT_LENGTH = 255


class FingerprintError(ValueError):
    """A fingerprint or machine UID that is not well formed; the message names the field."""


@dataclass(frozen=True)
class Fingerprint:
    mac: str
    cpu_id: str
    hostname: str
    product_version: str  # as given (stripped), e.g. "4.4.2"
    version: str  # major.minor, e.g. "4.4"

    @functools.cached_property  # an agent call asks for it several times
    def uid(self) -> str:
        text = f"v1\n{self.mac}\n{self.cpu_id}\n{self.hostname}\n{self.version}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def as_components(self) -> dict[str, str]:
        return {
            "mac": self.mac,
            "cpu_id": self.cpu_id,
            "hostname": self.hostname,
            "product_version": self.version,
        }


def normalize_mac(value: str) -> str:
    mac = value.strip().lower().replace("-", ":")
    if _HEX12.match(mac):
        mac = ":".join(mac[i : i + 2] for i in range(0, 12, 2))
    return mac


def normalize_version(value: str) -> str:
    return ".".join(value.strip().split(".")[:2])


def fingerprint_parse(data: object) -> Fingerprint:
    """Normalise a request's ``fingerprint`` object; raise FingerprintError naming the field."""
    if not isinstance(data, dict):
        raise FingerprintError("fingerprint must be an object with mac, cpu_id, hostname and product_version")
    values = {}
    for name in COMPONENTS:
        value = data.get(name)
        if not isinstance(value, str):
            raise FingerprintError(f"fingerprint.{name} is required and must be a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FingerprintError(f"fingerprint.{name} is not valid Unicode text") from None
        if len(value) > MAX_COMPONENT_LENGTH:
            raise FingerprintError(f"fingerprint.{name} is longer than {MAX_COMPONENT_LENGTH} characters")
        if CONTROL_CHARACTER.search(value):
            raise FingerprintError(f"fingerprint.{name} contains a control character")
        values[name] = value
    fingerprint = Fingerprint(
        mac=normalize_mac(values["mac"]),
        cpu_id=values["cpu_id"].strip().upper(),
        hostname=values["hostname"].strip().lower(),
        product_version=values["product_version"].strip(),
        version=normalize_version(values["product_version"]),
    )
    for name in ("mac", "cpu_id", "hostname", "version"):
        if not getattr(fingerprint, name):
            field = "product_version" if name == "version" else name
            raise FingerprintError(f"fingerprint.{field} is empty after normalising")
    return fingerprint


def machine_uid_normalize(value: str) -> str:
    """Accept a machine UID in any case with spaces or dashes anywhere."""
    if not isinstance(value, str):
        raise FingerprintError("machine UID must be text")
    uid = re.sub(r"[\s\-]", "", value).lower()
    if not _UID.match(uid):
        raise FingerprintError("a machine UID is 64 hexadecimal characters (spaces and dashes allowed)")
    return uid


def changed_components(bound: dict[str, str] | None, fingerprint: Fingerprint) -> list[str]:
    """Names of the components that differ from a bound machine's (empty if unknown)."""
    if not bound:
        return []
    current = fingerprint.as_components()
    return [name for name in COMPONENTS if bound.get(name) and bound.get(name) != current[name]]


# Re-binding a key to a changed machine, and saying what changed ---------------------------------------

HARDWARE_COMPONENTS = ("mac", "cpu_id", "hostname")
COMPONENT_LABELS = {
    "mac": "network card's MAC address",
    "cpu_id": "processor id",
    "hostname": "computer name",
    "product_version": "product version",
}
# What changed, a whole sentence per component (German words differ in gender): (from, to), and bare.
_CHANGE_SENTENCES = {
    "mac": (
        gettext_noop("The network card's MAC address changed from %(old)s to %(new)s."),
        gettext_noop("The network card's MAC address changed."),
    ),
    "cpu_id": (
        gettext_noop("The processor id changed from %(old)s to %(new)s."),
        gettext_noop("The processor id changed."),
    ),
    "hostname": (
        gettext_noop("The computer name changed from %(old)s to %(new)s."),
        gettext_noop("The computer name changed."),
    ),
    "product_version": (
        gettext_noop("The product version changed from %(old)s to %(new)s."),
        gettext_noop("The product version changed."),
    ),
}
STRICT, TOLERANT = "strict", "tolerant"  # Organization.FingerprintPolicy's values


@dataclass(frozen=True)
class Rebind:
    """Whether a key bound to one machine may re-bind to a changed one, and what changed.

    ``reason``: ``same`` (nothing that enters the UID changed), ``upgrade`` (only the product's
    major.minor: an in-place upgrade, allowed under every policy), ``tolerated`` (one hardware
    component, under the tolerant policy), or ``""`` (refused: another machine).
    """

    allowed: bool
    reason: str
    changes: dict[str, tuple[str, str]]  # component: (bound value, presented value)

    def describe(self) -> str:
        return describe_changes(self.changes)

    def describe_message(self) -> Message:
        return changes_message(self.changes)


def fingerprint_rebind(bound: dict[str, str], presented: dict[str, str], *, policy: str) -> Rebind:
    """The re-bind rule (AGENT_PROTOCOL.md "Additions in 1.1"), on normalised components as they
    enter the UID (``product_version`` as major.minor). Pure: no database, no settings."""
    if not bound:
        return Rebind(False, "", {})  # a machine known by its UID alone: nothing to compare
    changes = {
        name: (bound.get(name, ""), presented.get(name, ""))
        for name in COMPONENTS
        if bound.get(name, "") != presented.get(name, "")
    }
    hardware = [name for name in HARDWARE_COMPONENTS if name in changes]
    if not changes:
        return Rebind(True, "same", changes)
    if not hardware:
        return Rebind(True, "upgrade", changes)
    if policy == TOLERANT and len(hardware) == 1:
        return Rebind(True, "tolerated", changes)
    return Rebind(False, "", changes)


def describe_changes(changes: dict[str, tuple[str, str]]) -> str:
    """``The computer name changed from acme-srv01 to acme-srv02.`` for each change, in the order
    of the fingerprint's components."""
    return str(changes_message(changes))


def changes_message(changes: dict[str, tuple[str, str]]) -> Message:
    """``describe_changes`` as a ``Message`` (for the agent API's German verdicts)."""
    sentences = []
    for name in COMPONENTS:
        if name in changes:
            old, new = changes[name]
            with_values, bare = _CHANGE_SENTENCES[name]
            sentences.append(Message(with_values, {"old": old, "new": new}) if old and new else Message(bare))
    return Message.sentences(*sentences)
