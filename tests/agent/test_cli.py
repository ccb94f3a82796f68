"""The command line: output, --json, and the exit codes scripts rely on (0 licensed, 1 not, 2 usage/I/O)."""

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from licensing_agent.cli import main

from tests.agent.support import MACHINE, MACHINE_UID_442, IssuingPortal, Signer, token_claims, unused_port_url

REPOSITORY = Path(__file__).resolve().parents[2]
ORG = uuid.uuid4()
MACHINE_ARGS = ["--mac", MACHINE["mac"], "--cpu-id", MACHINE["cpu_id"], "--hostname", MACHINE["hostname"]]


@pytest.fixture
def portal():
    with IssuingPortal(ORG) as fake:
        yield fake


@pytest.fixture
def run(tmp_path, capsys):
    def run(*args):
        code = main([*args, "--state", str(tmp_path / "state.json"), "--product-version", "4.4.2", *MACHINE_ARGS])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_uid_prints_the_machine_uid(run):
    assert run("uid") == (0, MACHINE_UID_442 + "\n", "")


def test_fingerprint_json(run):
    code, out, _ = run("fingerprint", "--json")
    assert code == 0
    assert json.loads(out) == {
        "mac": "00:1a:2b:3c:4d:5e",
        "cpu_id": "BFEBFBFF000906EA",
        "hostname": "acme-srv01",
        "product_version": "4.4.2",
        "machine_uid": MACHINE_UID_442,
        "warnings": [],
    }


def test_options_before_the_command_count_too(tmp_path, capsys):
    code = main(["--json", "--product-version", "4.5", *MACHINE_ARGS, "--state", str(tmp_path / "s.json"), "uid"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["machine_uid"] == (
        "457a2c75f4c5bcaeacc01df9e55da6ce686180e51b53338d119c307c05d6d86d"
    )


def test_activate_validate_status_deactivate(run, portal):
    key = portal.signer.license_key("machine", ORG)
    code, out, _ = run("activate", key, "--portal", portal.url)
    assert code == 0 and "Licensed: yes (VALID" in out
    code, out, _ = run("validate", "--json")
    assert code == 0
    answer = json.loads(out)
    assert (answer["licensed"], answer["code"], answer["connection"]) == (True, "VALID", "portal")
    assert answer["verdict"]["organization"]["name"] == "Acme"
    assert run("status")[0] == 0
    code, out, _ = run("deactivate")
    assert code == 0 and "DEACTIVATED" in out
    assert run("status")[0] == 1


def test_an_untrusted_answer_is_shown_as_such(run, portal):
    key = portal.signer.license_key("machine", ORG, portal.clock.now - timedelta(days=60))
    assert run("activate", key, "--portal", portal.url)[0] == 0
    run("validate")
    portal.respond = lambda endpoint, request: portal.signed({"valid": True, "code": "VALID"}, signer=Signer())
    code, out, _ = run("validate", "--json")
    answer = json.loads(out)
    assert answer["connection"] == "untrusted" and answer["code"] == "TOKEN_VALID" and code == 0
    code, out, _ = run("validate")
    assert out.startswith("UNTRUSTED ANSWER")


def test_not_licensed_is_1(run, portal):
    portal.code = "REVOKED"
    code, out, _ = run("activate", portal.signer.license_key("machine", ORG), "--portal", portal.url)
    assert code == 1 and "REVOKED" in out
    assert run("status")[0] == 1


def test_usage_and_io_errors_are_2(run, tmp_path, capsys):
    assert run("validate", "--portal", "ftp://nowhere")[0] == 2
    with pytest.raises(SystemExit) as raised:
        main(["no-such-command"])
    assert raised.value.code == 2
    (tmp_path / "state.json").write_text("{broken")
    code, _, err = run("status")
    assert code == 2 and "not valid" in err
    code, out, _ = run("status", "--json")
    assert code == 2 and json.loads(out)["exit_code"] == 2


def test_deactivate_without_an_answer_is_2(run, portal):
    run("activate", portal.signer.license_key("machine", ORG), "--portal", portal.url)
    assert run("deactivate", "--portal", unused_port_url())[0] == 2


def test_inspect(run, portal):
    key = portal.signer.license_key("server", ORG)
    code, out, _ = run("inspect", key, "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["kind"], report["organization"], report["signature_valid"]) == ("server", str(ORG), None)
    assert run("inspect", key[:-1] + ("0" if key[-1] != "0" else "1"))[0] == 1
    run("pin", "--portal", portal.url)
    assert json.loads(run("inspect", key, "--json")[1])["signature_valid"] is True
    assert run("inspect", Signer().license_key())[0] == 1


def test_import_code(run, portal, tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [portal.signer.jwk()]}))
    assert run("pin", "--jwks-file", str(jwks))[0] == 0
    code_text = portal.signer.token(token_claims(MACHINE_UID_442, organization=ORG, now=portal.clock.now))
    code, out, _ = run("import-code", code_text)
    assert code == 0 and "activated manually" in out
    other = portal.signer.token(token_claims("0" * 64, organization=ORG, now=portal.clock.now))
    code, _, err = run("import-code", other)
    assert code == 1 and "another machine" in err


def _module(*args, cwd):
    environment = {**os.environ, "PYTHONPATH": ""}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=environment, capture_output=True, text=True)


def test_python_dash_m_agent_from_the_repository_root():
    result = _module("agent", "uid", "--product-version", "4.4.2", *MACHINE_ARGS, cwd=REPOSITORY)
    assert (result.returncode, result.stdout) == (0, MACHINE_UID_442 + "\n"), result.stderr


def test_python_dash_m_licensing_agent(tmp_path):
    result = _module("licensing_agent", "--help", cwd=REPOSITORY / "agent")
    assert result.returncode == 0 and "import-code" in result.stdout


def test_a_reader_that_went_away_gets_no_traceback():
    """``licensing-agent fingerprint | head -0``: the pipe is closed before the agent writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "agent", "fingerprint", "--product-version", "4.4.2", *MACHINE_ARGS],
            cwd=REPOSITORY,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 0
