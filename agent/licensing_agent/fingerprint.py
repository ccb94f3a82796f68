"""The machine fingerprint and machine UID (AGENT_PROTOCOL.md, "Fingerprint and machine UID").

``machine_uid`` is the part every port must copy exactly. ``collect`` reads
the components on the machine it runs on; each one can be overridden (for
tests, and for containers whose hardware view is meaningless).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import socket
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_HEX12 = re.compile(r"^[0-9a-f]{12}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_ZERO_MAC = "00:00:00:00:00:00"
_POWERSHELL_FIRST_UP_MAC = (
    "Get-NetAdapter | Where-Object Status -eq 'Up' | Sort-Object ifIndex | "
    "Select-Object -First 1 -ExpandProperty MacAddress"
)

# CPUID leaf 1, EDX: the Linux /proc/cpuinfo flag name of bits 0 to 31 ("-": reserved).
_EDX_FLAGS = (
    "fpu vme de pse tsc msr pae mce cx8 apic - sep mtrr pge mca cmov "
    "pat pse36 pn clflush - dts acpi mmx fxsr sse sse2 ss ht tm ia64 pbe"
)


class FingerprintError(ValueError):
    """A component that is empty (or missing) after normalising; the message names it."""


def normalize_mac(value: str) -> str:
    mac = value.strip().lower().replace("-", ":")
    if _HEX12.match(mac):
        mac = ":".join(mac[i : i + 2] for i in range(0, 12, 2))
    return mac


def normalize_cpu_id(value: str) -> str:
    return value.strip().upper()


def normalize_hostname(value: str) -> str:
    return value.strip().lower()


def normalize_version(value: str) -> str:
    """Only ``major.minor`` counts: ``"4.4.2"`` -> ``"4.4"``, ``"4"`` -> ``"4"``."""
    return ".".join(value.strip().split(".")[:2])


def machine_uid(mac: str, cpu_id: str, hostname: str, product_version: str) -> str:
    """The lower-case hex SHA-256 of ``v1\\n<mac>\\n<cpu_id>\\n<hostname>\\n<major.minor>``, normalised."""
    parts = {
        "mac": normalize_mac(mac),
        "cpu_id": normalize_cpu_id(cpu_id),
        "hostname": normalize_hostname(hostname),
        "product_version": normalize_version(product_version),
    }
    for name, value in parts.items():
        if not value:
            raise FingerprintError(f"fingerprint.{name} is empty after normalising")
    text = "v1\n{mac}\n{cpu_id}\n{hostname}\n{product_version}".format(**parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def machine_uid_display(uid: str) -> str:
    """The UID in groups of eight for people to read out (the portal accepts it so)."""
    return " ".join(uid[i : i + 8] for i in range(0, len(uid), 8))


@dataclass(frozen=True)
class Fingerprint:
    """The four components as sent to the portal, and the warnings met while reading them."""

    mac: str
    cpu_id: str
    hostname: str
    product_version: str
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def uid(self) -> str:
        return machine_uid(self.mac, self.cpu_id, self.hostname, self.product_version)

    def as_request(self) -> dict[str, str]:
        """The ``fingerprint`` object of a request."""
        return {
            "mac": self.mac,
            "cpu_id": self.cpu_id,
            "hostname": self.hostname,
            "product_version": self.product_version,
        }


def collect(
    product_version: str,
    *,
    mac: str | None = None,
    cpu_id: str | None = None,
    hostname: str | None = None,
) -> Fingerprint:
    """Read this machine's fingerprint; a component given here is used instead of the machine's."""
    if not product_version or not product_version.strip():
        raise FingerprintError("fingerprint.product_version is required (the product's version, e.g. 4.4.2)")
    warnings: list[str] = []
    if mac is None:
        mac, note = read_mac()
        warnings += note
    if cpu_id is None:
        cpu_id, note = read_cpu_id()
        warnings += note
    if hostname is None:
        hostname = socket.gethostname()
    fingerprint = Fingerprint(
        mac=normalize_mac(mac),
        cpu_id=normalize_cpu_id(cpu_id),
        hostname=normalize_hostname(hostname),
        product_version=product_version.strip(),
        warnings=tuple(warnings),
    )
    fingerprint.uid  # noqa: B018 - raises FingerprintError naming an empty component
    return fingerprint


# --- MAC address ----------------------------------------------------------------------------------


def read_mac(sys_class_net: Path = Path("/sys/class/net")) -> tuple[str, list[str]]:
    """The first operational non-loopback interface's MAC, in the OS's order; and warnings."""
    system = platform.system()
    found: str | None = None
    if system == "Linux" or sys_class_net.is_dir():
        found = linux_mac(sys_class_net)
    elif system == "Windows":
        found = _first_line(
            [
                "powershell",
                "-NoProfile",
                "-Command",
                _POWERSHELL_FIRST_UP_MAC,
            ]
        )
    elif system == "Darwin":
        found = _darwin_mac()
    if found and _MAC.match(normalize_mac(found)) and normalize_mac(found) != _ZERO_MAC:
        return normalize_mac(found), []
    import uuid  # the standard library's best guess: may be a random number, so say so

    node = uuid.getnode()
    guess = ":".join(f"{(node >> shift) & 0xFF:02x}" for shift in range(40, -1, -8))
    return guess, [f"no operational network interface found; using {guess} (pass --mac to set it)"]


def linux_mac(sys_class_net: Path = Path("/sys/class/net")) -> str | None:
    """Interfaces whose ``operstate`` is ``up``, sorted by ifindex, skipping ``lo`` and zero MACs."""
    candidates: list[tuple[int, str]] = []
    try:
        interfaces = list(sys_class_net.iterdir())
    except OSError:
        return None
    for interface in interfaces:
        if interface.name == "lo":
            continue
        try:
            operstate = (interface / "operstate").read_text().strip()
            address = normalize_mac((interface / "address").read_text())
            index = int((interface / "ifindex").read_text().strip())
        except (OSError, ValueError):
            continue
        if operstate != "up" or not _MAC.match(address) or address == _ZERO_MAC:
            continue
        candidates.append((index, address))
    return min(candidates)[1] if candidates else None


def _darwin_mac() -> str | None:
    output = _run(["ifconfig"])
    if output is None:
        return None
    for block in re.split(r"\n(?=\S)", output):
        name = block.split(":", 1)[0]
        ether = re.search(r"\bether ([0-9a-fA-F:]{17})", block)
        if name != "lo0" and ether and "status: active" in block:
            return ether.group(1)
    return None


# --- Processor ID ---------------------------------------------------------------------------------


def read_cpu_id(
    cpuinfo: Path = Path("/proc/cpuinfo"), cpuid_device: Path = Path("/dev/cpu/0/cpuid")
) -> tuple[str, list[str]]:
    """The SMBIOS processor ID (``EDX`` then ``EAX`` of CPUID leaf 1, as Windows' ProcessorId).

    Tries, in order: ``dmidecode -t 4`` (root), the CPUID device (root, ``cpuid`` module),
    then a value derived from ``/proc/cpuinfo`` (signature exact, feature bits as the kernel
    reports them); else a stable stand-in, with a warning.
    """
    system = platform.system()
    if system == "Windows":
        value = (
            _first_line(
                [
                    "powershell",
                    "-NoProfile",
                    "-Command",
                    "(Get-CimInstance Win32_Processor | Select-Object -First 1).ProcessorId",
                ]
            )
            or _wmic_processor_id()
        )
        if value:
            return value.strip().upper(), []
    elif system == "Darwin":
        value = darwin_cpu_id()
        if value:
            return value, []
    for reader in (dmidecode_cpu_id, lambda: cpuid_device_cpu_id(cpuid_device)):
        value = reader()
        if value:
            return value, []
    value = cpuinfo_cpu_id(cpuinfo)
    if value:
        return value, []
    return _stand_in_cpu_id()


def processor_id(eax: int, edx: int) -> str:
    """Windows' ``Win32_Processor.ProcessorId``: CPUID(1).EDX then .EAX, 16 upper-case hex digits."""
    return f"{edx & 0xFFFFFFFF:08X}{eax & 0xFFFFFFFF:08X}"


def dmidecode_id_to_processor_id(text: str) -> str | None:
    """``ID: EA 06 09 00 FF FB EB BF`` (little-endian EAX, EDX bytes) -> ``BFEBFBFF000906EA``."""
    match = re.search(r"^\s*ID:\s*((?:[0-9A-Fa-f]{2}\s*){8})$", text, re.MULTILINE)
    if not match:
        return None
    raw = bytes.fromhex(match.group(1).replace(" ", ""))
    eax, edx = struct.unpack("<II", raw)
    if eax == 0 and edx == 0:
        return None
    return processor_id(eax, edx)


def dmidecode_cpu_id() -> str | None:
    output = _run(["dmidecode", "-t", "4"])
    return dmidecode_id_to_processor_id(output) if output else None


def cpuid_device_cpu_id(device: Path = Path("/dev/cpu/0/cpuid")) -> str | None:
    """Linux's CPUID driver: reading 16 bytes at offset 1 runs leaf 1 (EAX, EBX, ECX, EDX)."""
    try:
        fd = os.open(device, os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.pread(fd, 16, 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) != 16:
        return None
    eax, _ebx, _ecx, edx = struct.unpack("<4I", data)
    return processor_id(eax, edx)


def cpu_signature(family: int, model: int, stepping: int) -> int:
    """CPUID(1).EAX from the display family, model and stepping /proc/cpuinfo shows."""
    base_family = min(family, 0xF)
    extended_family = family - 0xF if family >= 0xF else 0
    if base_family in (0x6, 0xF):
        base_model, extended_model = model & 0xF, model >> 4
    else:
        base_model, extended_model = model & 0xF, 0
    return (
        (extended_family & 0xFF) << 20
        | (extended_model & 0xF) << 16
        | base_family << 8
        | base_model << 4
        | (stepping & 0xF)
    )


def cpuinfo_cpu_id(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """A ProcessorId built from the first processor of ``/proc/cpuinfo`` (x86 only)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    try:
        eax = cpu_signature(int(fields["cpu family"]), int(fields["model"]), int(fields["stepping"]))
    except (KeyError, ValueError):
        return None
    flags = set(fields.get("flags", "").split())
    edx = sum(1 << bit for bit, name in enumerate(_EDX_FLAGS.split()) if name != "-" and name in flags)
    return processor_id(eax, edx)


def darwin_cpu_id() -> str | None:
    """Intel Macs: ``machdep.cpu.signature`` and the low half of ``machdep.cpu.feature_bits``."""
    signature = _first_line(["sysctl", "-n", "machdep.cpu.signature"])
    features = _first_line(["sysctl", "-n", "machdep.cpu.feature_bits"])
    try:
        return processor_id(int(signature), int(features) & 0xFFFFFFFF) if signature and features else None
    except ValueError:
        return None


def _wmic_processor_id() -> str | None:
    output = _run(["wmic", "cpu", "get", "ProcessorId"])
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else None


def _stand_in_cpu_id() -> tuple[str, list[str]]:
    """No readable processor ID (a VM, an ARM board, no privileges): a stable stand-in."""
    source = None
    for path in (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id")):
        try:
            source = path.read_text().strip() or None
        except OSError:
            continue
        if source:
            break
    if source is None and platform.system() == "Darwin":
        output = _run(["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"]) or ""
        match = re.search(r'"IOPlatformUUID" = "([^"]+)"', output)
        source = match.group(1) if match else None
    source = source or f"{platform.machine()}|{platform.processor()}"
    value = "NOID" + hashlib.sha256(source.encode()).hexdigest()[:12].upper()
    return value, [
        f"the processor ID is not readable here; using the stand-in {value} (pass --cpu-id to set it)"
    ]


def _run(
    command: list[str], runner: Callable[..., subprocess.CompletedProcess] = subprocess.run
) -> str | None:
    try:
        result = runner(command, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _first_line(command: list[str]) -> str | None:
    output = _run(command)
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    return lines[0] if lines else None
