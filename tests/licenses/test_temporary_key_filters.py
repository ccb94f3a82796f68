"""The temporary keys tab: the working keys searched by key id or description, ending soon, sorted."""

from __future__ import annotations

from datetime import timedelta

from licenses.models import Kind
from licenses.services import license_issue

URL = "/organizations/acme/temporary-keys/"


def _issue(world, hours: int, description: str):
    license_key, _text = license_issue(
        organization=world.acme,
        kind=Kind.TEMPORARY,
        actor=world.users["super_admin"],
        ttl=timedelta(hours=hours),
        description=description,
    )
    return license_key


def _listed(response) -> list[str]:
    html = response.content.decode()
    active = html.split('data-testid="temporary-active-table"', 1)[1].split("</table>", 1)[0]
    return [part.split('"', 1)[0] for part in active.split('data-key="')[1:]]


def test_the_active_list_is_searched_by_description_and_key_id(world):
    long_one = _issue(world, 72, "Support session Initech")
    client = world.client("super_admin")
    response = client.get(URL, {"q": "initech"})
    assert _listed(response) == [str(long_one.public_id)]
    assert 'data-testid="list-total"' in response.content.decode()
    assert _listed(client.get(URL, {"q": str(long_one.public_id)[:8]})) == [str(long_one.public_id)]
    assert "No key matches these filters." in client.get(URL, {"q": "nothing-like-this"}).content.decode()


def test_the_active_list_has_no_status_filter_and_sorts_by_end(world):
    long_one = _issue(world, 72, "three days")
    client = world.client("super_admin")
    html = client.get(URL).content.decode()
    assert 'name="status"' not in html.split('data-testid="key-filters"', 1)[1].split("</form>", 1)[0]
    soonest_first = _listed(client.get(URL))
    assert soonest_first == [str(world.temporary_key.public_id), str(long_one.public_id)]
    assert _listed(client.get(URL, {"sort": "-expires"})) == soonest_first[::-1]


def test_ending_soon_keeps_the_keys_ending_within_30_days(world):
    _issue(world, 24 * 60, "sixty days")
    listed = _listed(world.client("super_admin").get(URL, {"ending": "on"}))
    assert listed == [str(world.temporary_key.public_id)]
