"""The agent API's texts follow Accept-Language (English or German); its codes never change."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from tests.api.test_signatures import jwks, verify_signature
from tests.conftest import FINGERPRINT, OTHER_MACHINE, Agent


def german_agent(fingerprint=FINGERPRINT, header="de") -> Agent:
    return Agent(client=Client(HTTP_ACCEPT_LANGUAGE=header), fingerprint=fingerprint)


def test_a_german_call_gets_a_german_detail_and_the_same_code(machine_key):
    english = Agent().call("activate", machine_key["key"])
    german = german_agent().call("activate", machine_key["key"])
    assert german.json()["code"] == english.json()["code"] == "VALID"
    assert re.fullmatch(r"License valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", english.json()["detail"])
    assert re.fullmatch(r"Lizenz gültig bis \d\d\.\d\d\.\d{4} \d\d:\d\d UTC\.", german.json()["detail"])
    assert german["Content-Language"] == "de" and german["Vary"] == "Accept-Language"
    assert "Content-Language" not in english and "Vary" not in english


def test_a_german_verdict_is_signed_over_its_german_bytes(machine_key):
    german = german_agent().call("activate", machine_key["key"])
    assert "gültig".encode() in german.content  # UTF-8, not escaped
    assert verify_signature(german, jwks(Client()))


def test_refusals_in_german_name_the_same_code(machine_key):
    Agent().activate(machine_key["key"])
    refused = german_agent(OTHER_MACHINE).call("activate", machine_key["key"]).json()
    assert refused["code"] == "FINGERPRINT_MISMATCH"
    assert refused["detail"].startswith("Dieser Lizenzschlüssel ist auf einer anderen Maschine aktiviert")
    assert "(Reiter Maschinen)" in refused["detail"]
    missing = german_agent().call("validate", "LIC-NOPE-NOPE").json()
    assert missing["code"] == "NOT_FOUND"
    released = german_agent().call("deactivate", machine_key["key"]).json()
    assert released["code"] == "DEACTIVATED"
    assert released["detail"] == (
        "Die Aktivierung dieser Maschine wurde freigegeben; der Schlüssel kann wieder aktiviert werden."
    )
    again = german_agent().call("validate", machine_key["key"]).json()
    assert again["code"] == "NOT_ACTIVATED"
    assert again["detail"] == "Dieser Lizenzschlüssel ist auf keiner Maschine aktiviert."


def test_a_changed_machine_is_described_in_german(machine_key):
    Agent().activate(machine_key["key"])
    renamed = german_agent({**FINGERPRINT, "hostname": "acme-srv99"}).call("activate", machine_key["key"]).json()
    assert renamed["code"] == "FINGERPRINT_MISMATCH" and renamed["changed"] == ["hostname"]
    assert "Der Computername hat sich von" in renamed["detail"] and "acme-srv99" in renamed["detail"]


def test_the_trial_banner_and_its_date_follow_the_language(trial_key):
    english = Agent().activate(trial_key["key"])["license"]["banner"]
    german = german_agent().call("validate", trial_key["key"]).json()
    banner = german["license"]["banner"]
    assert english.startswith("Trial license: for evaluation")
    assert banner.startswith("Testlizenz: nur zur Evaluierung")
    assert re.search(r"bis \d\d\.\d\d\.\d{4} \d\d:\d\d UTC", banner)
    assert re.search(r"until \d{4}-\d\d-\d\d \d\d:\d\d UTC", english)
    assert re.search(r"Lizenz gültig bis \d\d\.\d\d\.\d{4} \d\d:\d\d UTC\.", german["detail"])


@pytest.mark.parametrize(
    ("header", "german"),
    [
        ("de", True),
        ("de-DE", True),
        ("de-AT,de;q=0.9,en;q=0.8", True),
        ("fr-FR,de;q=0.7,en;q=0.5", True),
        ("en-US,en;q=0.9,de;q=0.8", False),
        ("en;q=0.5,de;q=0.4", False),
        ("fr", False),
        ("de;q=0", False),
        ("*", False),
        ("not a header ;;; q=x", False),
    ],
)
def test_the_language_is_the_one_the_header_prefers(machine_key, header, german):
    response = german_agent(header=header).call("activate", machine_key["key"])
    assert response.json()["code"] == "VALID"
    assert response.json()["detail"].startswith("Lizenz gültig bis " if german else "License valid until ")
    assert response["Vary"] == "Accept-Language"
    assert response["Content-Language"] == ("de" if german else "en")


def test_protocol_errors_follow_the_language_with_the_same_code(machine_key):
    client = Client(HTTP_ACCEPT_LANGUAGE="de")
    wrong_type = client.post("/api/v1/validate", "{}", content_type="text/plain")
    assert wrong_type.status_code == 415
    assert wrong_type.json()["error"] == {
        "code": "UNSUPPORTED_MEDIA_TYPE",
        "detail": "Senden Sie den Inhalt als Content-Type: application/json.",
    }
    assert wrong_type["Vary"] == "Accept-Language"
    too_large = client.post("/api/v1/validate", json.dumps({"x": "a" * 20000}), content_type="application/json")
    assert too_large.json()["error"]["detail"] == "Der Inhalt ist größer als 16384 Bytes."
    assert client.get("/api/v1/validate").json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert client.get("/api/v1/validate").json()["error"]["detail"] == "Verwenden Sie POST."
    english = Client().post("/api/v1/validate", "{}", content_type="text/plain")
    assert english.json()["error"]["detail"] == "Send the body as Content-Type: application/json."
    assert "Vary" not in english


def test_without_the_header_the_api_stays_english_after_a_german_page(world):
    """A thread that has just served a German page answers the next agent call in English."""
    german_page = world.client("org_admin")
    german_page.defaults["HTTP_ACCEPT_LANGUAGE"] = "de"
    assert '<html lang="de">' in german_page.get("/").content.decode()
    response = Agent().call("validate", world.globex_text)
    assert response.json()["detail"] == "This machine is registered to another organization."
    assert "Content-Language" not in response and "Accept-Language" not in response.get("Vary", "")
    german = Agent(client=Client(HTTP_ACCEPT_LANGUAGE="de")).call("validate", world.globex_text)
    assert german.json()["code"] == response.json()["code"] == "ORGANIZATION_MISMATCH"
    assert german.json()["detail"] == "Diese Maschine ist für eine andere Organisation registriert."
    # and the page after the German call is still German, the one after that English
    assert '<html lang="de">' in german_page.get("/").content.decode()
    assert '<html lang="en">' in world.client("org_admin").get("/").content.decode()


def test_the_valid_verdicts_english_is_its_message_in_english(machine_key, trial_key):
    """The hot path writes a valid verdict's English as an f-string; it must say what its msgid says."""
    from licenses.agent_api.flow import now_utc
    from licenses.models import LicenseKey

    for issued in (machine_key, trial_key):
        key = LicenseKey.objects.get(public_id=issued["id"])
        verdict = key._valid(now_utc())
        assert verdict.detail_message is not None and verdict.detail == str(verdict.detail_message)
