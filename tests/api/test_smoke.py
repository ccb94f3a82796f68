def test_activate_then_validate(agent, machine_key):
    verdict = agent.activate(machine_key["key"], nonce="abc")
    assert verdict["code"] == "VALID", verdict
    assert verdict["nonce"] == "abc"
    assert verdict["activation"].count(".") == 2
    assert agent.validate(machine_key["key"])["code"] == "VALID"
