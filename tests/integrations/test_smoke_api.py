import pytest

from tests.integrations.conftest import error_of

pytestmark = [pytest.mark.django_db]


def test_smoke(vendor, acme, world):
    response = vendor.get("/organizations")
    assert response.status_code == 200, response.content
    print(response.json())
    response = vendor.post("/organizations", {"name": "Initech", "subscription_days": 30})
    assert response.status_code == 201, response.content
    response = acme.get("/organizations")
    assert [row["slug"] for row in response.json()["data"]] == ["acme"]
    response = vendor.post("/organizations", {"nam": "x"})
    print(response.status_code, response.content)
    assert error_of(response)["code"] == "BAD_REQUEST"
