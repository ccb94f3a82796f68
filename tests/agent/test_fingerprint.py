"""Machine UID (the protocol's test vectors) and reading the fingerprint on Linux."""

import pytest
from licensing_agent import fingerprint as fp

VECTORS = [
    ("00:1a:2b:3c:4d:5e", "BFEBFBFF000906EA", "acme-srv01", "4.4.2",
     "0f1b6ff645458c48cfc2c6058f9240062dacdb68b1f948daff82299c4e8c908a"),
    ("00-1A-2B-3C-4D-5E", " bfebfbff000906ea ", "ACME-SRV01 ", "4.4",
     "0f1b6ff645458c48cfc2c6058f9240062dacdb68b1f948daff82299c4e8c908a"),
    ("001a2b3c4d5e", "BFEBFBFF000906EA", "acme-srv01", "4.4.9",
     "0f1b6ff645458c48cfc2c6058f9240062dacdb68b1f948daff82299c4e8c908a"),
    ("00:1a:2b:3c:4d:5e", "BFEBFBFF000906EA", "acme-srv02", "4.4.2",
     "8e0af67bac52f1a9761104642b5492ade0de1f5c1301e60d6e7fc0af9afd2b83"),
    ("00:1a:2b:3c:4d:5e", "BFEBFBFF000906EA", "acme-srv01", "4.5.0",
     "457a2c75f4c5bcaeacc01df9e55da6ce686180e51b53338d119c307c05d6d86d"),
]  # fmt: skip


@pytest.mark.parametrize(("mac", "cpu_id", "hostname", "version", "uid"), VECTORS)
def test_protocol_test_vectors(mac, cpu_id, hostname, version, uid):
    assert fp.machine_uid(mac, cpu_id, hostname, version) == uid
    assert fp.collect(version, mac=mac, cpu_id=cpu_id, hostname=hostname).uid == uid


def test_same_uid_as_the_portal():
    from environments.fingerprint import fingerprint_parse

    for mac, cpu_id, hostname, version, uid in VECTORS:
        portal = fingerprint_parse({"mac": mac, "cpu_id": cpu_id, "hostname": hostname, "product_version": version})
        assert portal.uid == uid


@pytest.mark.parametrize("field", ["mac", "cpu_id", "hostname", "product_version"])
def test_an_empty_component_is_refused_naming_it(field):
    parts = {"mac": "001a2b3c4d5e", "cpu_id": "X", "hostname": "h", "product_version": "1.2"}
    parts[field] = "   "
    with pytest.raises(fp.FingerprintError, match=field):
        fp.machine_uid(**parts)


def test_version_keeps_major_and_minor_only():
    assert fp.normalize_version(" 4.4.2 ") == "4.4"
    assert fp.normalize_version("4") == "4"
    assert fp.normalize_version("10.0.1.7") == "10.0"


def test_collect_uses_the_overrides_and_keeps_the_given_version():
    found = fp.collect("4.4.2", mac="00-1A-2B-3C-4D-5E", cpu_id="bfebfbff000906ea", hostname="ACME-SRV01")
    assert found.as_request() == {
        "mac": "00:1a:2b:3c:4d:5e",
        "cpu_id": "BFEBFBFF000906EA",
        "hostname": "acme-srv01",
        "product_version": "4.4.2",
    }


def test_collect_on_this_machine_gives_four_non_empty_components():
    found = fp.collect("1.0")
    assert all(found.as_request().values())
    assert len(found.uid) == 64


def _interface(root, name, index, state, address):
    folder = root / name
    folder.mkdir()
    (folder / "ifindex").write_text(f"{index}\n")
    (folder / "operstate").write_text(f"{state}\n")
    (folder / "address").write_text(f"{address}\n")


def test_linux_mac_first_up_interface_by_ifindex(tmp_path):
    _interface(tmp_path, "lo", 1, "unknown", "00:00:00:00:00:00")
    _interface(tmp_path, "wlan0", 5, "up", "AA:BB:CC:DD:EE:05")
    _interface(tmp_path, "eth1", 3, "up", "aa:bb:cc:dd:ee:03")
    _interface(tmp_path, "eth0", 2, "down", "aa:bb:cc:dd:ee:02")
    _interface(tmp_path, "dummy0", 1, "up", "00:00:00:00:00:00")
    assert fp.linux_mac(tmp_path) == "aa:bb:cc:dd:ee:03"


def test_linux_mac_none_when_nothing_is_up(tmp_path):
    _interface(tmp_path, "lo", 1, "up", "00:00:00:00:00:00")
    _interface(tmp_path, "eth0", 2, "down", "aa:bb:cc:dd:ee:02")
    assert fp.linux_mac(tmp_path) is None


def test_cpu_signature_matches_known_processors():
    assert fp.cpu_signature(family=6, model=158, stepping=10) == 0x000906EA  # Intel Coffee Lake
    assert fp.cpu_signature(family=23, model=1, stepping=2) == 0x00800F12  # AMD EPYC Naples
    assert fp.cpu_signature(family=25, model=33, stepping=0) == 0x00A20F10  # AMD Zen 3
    assert fp.processor_id(0x000906EA, 0xBFEBFBFF) == "BFEBFBFF000906EA"


def test_dmidecode_id_is_read_as_windows_processor_id():
    output = "Processor Information\n\tSocket Designation: CPU 0\n\tID: EA 06 09 00 FF FB EB BF\n\tVersion: x\n"
    assert fp.dmidecode_id_to_processor_id(output) == "BFEBFBFF000906EA"
    assert fp.dmidecode_id_to_processor_id("\tID: 00 00 00 00 00 00 00 00\n") is None
    assert fp.dmidecode_id_to_processor_id("no id here") is None


INTEL_FLAGS = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 "
    "ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc"
)


def test_cpuinfo_gives_the_processor_id_of_a_real_intel_cpu(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 158\nstepping\t: 10\n"
        f"flags\t\t: {INTEL_FLAGS}\n\nprocessor\t: 1\ncpu family\t: 1\n"
    )
    assert fp.cpuinfo_cpu_id(cpuinfo) == "BFEBFBFF000906EA"


def test_cpuinfo_without_x86_fields_gives_nothing(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nBogoMIPS\t: 48.00\nCPU implementer\t: 0x41\n")
    assert fp.cpuinfo_cpu_id(cpuinfo) is None
    assert fp.cpuinfo_cpu_id(tmp_path / "missing") is None


def test_unreadable_processor_id_falls_back_to_a_stable_stand_in_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(fp, "dmidecode_cpu_id", lambda: None)
    first = fp.read_cpu_id(cpuinfo=tmp_path / "none", cpuid_device=tmp_path / "none")
    second = fp.read_cpu_id(cpuinfo=tmp_path / "none", cpuid_device=tmp_path / "none")
    assert first == second
    value, warnings = first
    assert value.startswith("NOID") and len(value) == 16
    assert "--cpu-id" in warnings[0]
