"""The people pages: who sees whom, roles, deactivation (sessions end at once), last sign-in, audit."""

from __future__ import annotations

from django.test import Client

from audit.models import AuditEvent
from organizations.models import User
from tests.accounts.conftest import sign_in, signed_in


def names_on(client: Client, url: str = "/people/") -> str:
    return client.get(url).content.decode()


def test_an_org_admin_sees_only_their_organization_and_never_a_super_admin(world):
    html = names_on(world.client("org_admin"))
    assert "acme-coadmin" in html and "acme-admin" in html
    assert "root" not in html.split("user-table")[1].split("</table>")[0]
    assert "globex-admin" not in html and ">partner<" not in html
    assert world.client("org_admin").get(f"/people/{world.users['outsider'].pk}/").status_code == 404
    assert world.client("org_admin").get(f"/people/{world.users['super_admin'].pk}/").status_code == 404


def test_a_super_admin_sees_everyone_and_filters_by_organization(world):
    root = signed_in(world, "super_admin")
    html = names_on(root)
    for name in ("root", "acme-admin", "globex-admin", "partner"):
        assert name in html
    filtered = names_on(root, f"/people/?organization={world.globex.pk}")
    assert "globex-admin" in filtered and "acme-coadmin" not in filtered


def test_set_role_is_audited_and_an_org_admin_cannot_grant_super_admin(world):
    admin = world.client("org_admin")
    co_admin = world.users["co_admin"]
    assert admin.post(f"/people/{co_admin.pk}/role/", {"role": "org_admin"}).status_code == 302
    co_admin.refresh_from_db()
    assert co_admin.role == "org_admin"
    event = AuditEvent.objects.get(action="user.set_role", object_id=str(co_admin.pk))
    assert event.before["role"] == "co_admin" and event.after["role"] == "org_admin"
    response = admin.post(f"/people/{co_admin.pk}/role/", {"role": "super_admin"})
    assert response.status_code == 400
    co_admin.refresh_from_db()
    assert co_admin.role == "org_admin" and not co_admin.is_superuser


def test_a_super_admin_promotes_to_super_admin_with_the_django_admin(world):
    root = signed_in(world, "super_admin")
    partner = world.users["partner"]
    assert root.post(f"/people/{partner.pk}/role/", {"role": "super_admin"}).status_code == 302
    partner.refresh_from_db()
    assert partner.is_super_admin and partner.is_staff and partner.organization is None


def test_nobody_changes_themselves(world):
    admin = world.client("org_admin")
    me = world.users["org_admin"]
    admin.post(f"/people/{me.pk}/active/", {"active": "false"})
    admin.post(f"/people/{me.pk}/role/", {"role": "partner"})
    me.refresh_from_db()
    assert me.is_active and me.role == "org_admin"


def test_deactivation_ends_the_session_at_once_and_reactivation_lets_them_back(world):
    victim = world.users["co_admin"]
    their_session = Client()
    assert sign_in(their_session, "acme-coadmin").status_code == 302
    assert their_session.get("/").status_code == 200
    admin = world.client("org_admin")
    assert admin.post(f"/people/{victim.pk}/active/", {"active": "false"}).status_code == 302
    response = their_session.get("/organizations/acme/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert sign_in(Client(), "acme-coadmin").status_code == 200  # refused
    assert AuditEvent.objects.filter(action="user.deactivate", object_id=str(victim.pk)).exists()
    admin.post(f"/people/{victim.pk}/active/", {"active": "true"})
    assert sign_in(Client(), "acme-coadmin").status_code == 302
    assert AuditEvent.objects.filter(action="user.reactivate", object_id=str(victim.pk)).exists()


def test_last_sign_in_is_shown(world):
    assert "never" in names_on(world.client("org_admin"), f"/people/{world.users['co_admin'].pk}/")
    sign_in(Client(), "acme-coadmin")
    html = names_on(world.client("org_admin"), f"/people/{world.users['co_admin'].pk}/")
    assert "Last sign-in" in html and "never" not in html.split("Last sign-in")[1][:200]


def test_a_super_admin_picks_the_partner_of_a_temporary_key_from_the_people_page(world):
    root = signed_in(world, "super_admin")
    partner = world.users["partner"]
    html = names_on(root, f"/people/{partner.pk}/")
    assert "Temporary keys issued to partner" in html
    response = root.get(f"/people/{partner.pk}/temporary-key/?organization=acme")
    assert response["Location"] == f"/organizations/acme/temporary-keys/?issued_to={partner.pk}"
    page = root.get(response["Location"]).content.decode()
    assert f'<option value="{partner.pk}" selected>' in page
    root.post("/organizations/acme/temporary-keys/generate/", {"ttl": "3600", "issued_to": partner.pk})
    partner_view = world.client("partner").get("/").content.decode()
    assert "Acme Corp" in partner_view and "Ends" in partner_view


def test_the_django_admin_is_for_super_admins_only(world):
    assert world.client("org_admin").get("/admin/").status_code == 302
    assert signed_in(world, "super_admin").get("/admin/").status_code == 200


def test_partners_and_co_admins_have_no_people_pages(world):
    for role in ("partner", "co_admin"):
        assert world.client(role).get("/people/").status_code == 403
        assert (
            world.client(role).post("/people/invite/", {"email": "a@b.example", "role": "partner"}).status_code == 403
        )
    assert not User.objects.filter(email="a@b.example").exists()
