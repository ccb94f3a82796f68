"""The hot path's literal SQL (licenses/agent_api/sql.py) agrees with the models and the ORM: a
column added to a model, or a rule changed in ``registered_machine_filter``, fails here first."""

from __future__ import annotations

import re

import pytest

from environments.models import Environment, Machine
from licenses.agent_api import flow, sql
from licenses.models import LicenseKey, registered_machine_filter
from organizations.models import Organization
from tests.conftest import OTHER_MACHINE, Agent, command


def selected(statement: str) -> list[tuple[str, str]]:
    columns = re.search(r"SELECT(.*?)FROM", statement, re.S).group(1)
    return [tuple(column.strip().split(".")) for column in columns.split(",") if "." in column and "=" not in column]


def test_the_verdict_lookup_lists_every_column_of_its_four_models_in_field_order():
    expected = [
        (alias, field.column)
        for alias, model in (("k", LicenseKey), ("o", Organization), ("e", Environment), ("m", Machine))
        for field in model._meta.concrete_fields
    ]
    assert selected(sql.VERDICT_BY_DIGEST) == expected
    assert [model for model, _ in flow._VERDICT_PARTS] == [LicenseKey, Organization, Environment, Machine]


def test_the_registered_machine_lookup_lists_the_machine_then_the_answer():
    columns = [("m", field.column) for field in Machine._meta.concrete_fields]
    assert selected(sql.REGISTERED_MACHINE)[: len(columns)] == columns
    assert sql.REGISTERED_MACHINE.split("FROM environments_machine m")[0].rstrip().endswith("AS is_registered_machine")


@pytest.mark.postgres
def test_the_registered_machine_answer_is_the_orms(org, other_org, machine_key, temporary_key):
    mine, stranger, theirs = (
        Agent(),
        Agent(fingerprint={**OTHER_MACHINE, "hostname": "stranger"}),
        Agent(fingerprint=OTHER_MACHINE),
    )
    assert mine.activate(machine_key["key"])["code"] == "VALID"
    their_key = command("issue_key", other_org["id"], "--kind", "machine", "--environment", "Production")
    assert theirs.activate(their_key["key"])["code"] == "VALID"
    stranger.validate(temporary_key["key"])
    revoked = command(
        "issue_key", org["id"], "--kind", "server", "--machine-name", "stranger", "--expires", "2099-01-01"
    )
    assert stranger.activate(revoked["key"])["code"] == "VALID"
    command("revoke_key", revoked["id"])
    organization = Organization.objects.get(uuid=org["id"])
    for machine in Machine.objects.all():
        orm = Machine.objects.filter(pk=machine.pk).filter(registered_machine_filter(organization)).exists()
        row = sql.execute("agent_registered_machine", [organization.pk, machine.uid])
        assert flow.machine_from_registered_row(row).is_registered_machine is orm, machine.hostname
    assert sql.execute("agent_registered_machine", [organization.pk, "0" * 64]) is None
