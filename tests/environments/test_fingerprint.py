"""The machine UID, exactly as the protocol's test vectors say."""

import pytest

from environments.fingerprint import FingerprintError, fingerprint_parse, machine_uid_normalize

SAME = "0f1b6ff645458c48cfc2c6058f9240062dacdb68b1f948daff82299c4e8c908a"
VECTORS = [
    ("00:1a:2b:3c:4d:5e", "BFEBFBFF000906EA", "acme-srv01", "4.4.2", SAME),
    ("00-1A-2B-3C-4D-5E", " bfebfbff000906ea ", "ACME-SRV01 ", "4.4", SAME),
    ("001a2b3c4d5e", "BFEBFBFF000906EA", "acme-srv01", "4.4.9", SAME),
    (
        "00:1a:2b:3c:4d:5e",
        "BFEBFBFF000906EA",
        "acme-srv02",
        "4.4.2",
        "8e0af67bac52f1a9761104642b5492ade0de1f5c1301e60d6e7fc0af9afd2b83",
    ),
    (
        "00:1a:2b:3c:4d:5e",
        "BFEBFBFF000906EA",
        "acme-srv01",
        "4.5.0",
        "457a2c75f4c5bcaeacc01df9e55da6ce686180e51b53338d119c307c05d6d86d",
    ),
]


@pytest.mark.parametrize(("mac", "cpu_id", "hostname", "version", "uid"), VECTORS)
def test_protocol_vectors(mac, cpu_id, hostname, version, uid):
    fingerprint = {"mac": mac, "cpu_id": cpu_id, "hostname": hostname, "product_version": version}
    assert fingerprint_parse(fingerprint).uid == uid


def test_single_part_version():
    fingerprint = fingerprint_parse({"mac": "a", "cpu_id": "b", "hostname": "c", "product_version": " 4 "})
    assert fingerprint.version == "4"


def test_uid_accepted_in_any_case_with_spaces_and_dashes():
    messy = " ".join(SAME.upper()[i : i + 8] for i in range(0, 64, 8)).replace(" ", "-", 3)
    assert machine_uid_normalize(messy) == SAME
    with pytest.raises(FingerprintError):
        machine_uid_normalize(SAME[:-1])
    with pytest.raises(FingerprintError):
        machine_uid_normalize(SAME[:-1] + "g")
