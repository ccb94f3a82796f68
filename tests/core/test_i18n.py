"""The portal in English and German: the language switcher (remembered per user), every main page
in German with no English left, and a German translation for every string the portal marks."""

from __future__ import annotations

import ast
import gettext as gettext_module
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from audit.models import AuditEvent

LOCALE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES"


def main_pages(world) -> dict[str, str]:
    """A signed-in organization admin's and a super-admin's everyday pages."""
    acme = "/organizations/acme"
    return {
        "dashboard": "/",
        "organization": f"{acme}/",
        "keys": f"{acme}/licenses/?kind=all",
        "machine keys": f"{acme}/licenses/?kind=machine",
        "server keys": f"{acme}/server-keys/",
        "trial": f"{acme}/trial/",
        "environments": f"{acme}/",
        "machines": f"{acme}/machines/",
        "audit": f"{acme}/audit/",
        "key detail": f"/keys/{world.machine_key.public_id}/",
        "key revoke": f"/keys/{world.machine_key.public_id}/revoke/",
        "server key edit": f"/keys/{world.server_key.public_id}/edit/",
        "machine detach": f"{acme}/machines/{world.machine.uid}/detach/",
        "manual activation": "/activate/",
        "people": "/people/",
        "invite": "/people/invite/",
        "two-factor": "/accounts/two-factor/",
        "api tokens": f"{acme}/api-tokens/",
    }


SUPER_ADMIN_PAGES = {
    "temporary keys": "/organizations/acme/temporary-keys/",
    "organizations": "/organizations/",
    "new organization": "/organizations/new/",
    "edit organization": "/organizations/acme/edit/",
    "renew": "/organizations/acme/renew/",
    "suspend": "/organizations/acme/status/",
    "machine claims": "/machine-claims/",
    "single sign-on": "/people/single-sign-on/",
    "vendor api tokens": "/api-tokens/",
}

# Words of the portal's English pages that a German page never shows (outside names and codes).
ENGLISH = re.compile(
    r"\b(Dashboard|Organizations?|Machines|Keys?|Environments?|Description|Requested by|Sign (in|out)|"
    r"Search|Filter|Clear|Cancel|Save|Actions?|Issued|Expires|Bound to|Time left|Ends|People|Invite|"
    r"Previous|Next|Show|Generate|Delete|Revoke|Detach|Edit|Renew|Suspend|Created|Last seen|Primary|"
    r"match(es)?|none|never|free|Active|the|and|of|is|are|with|your|you)\b"
)


def visible_text(html: str) -> str:
    """The text a reader sees: no tags, scripts, attribute values, <code> or <time> contents."""
    html = re.sub(r"<(script|style|code|pre|time|title)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html)


def german(client: Client) -> Client:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "de"
    return client


def english_left(html: str, allowed: set[str]) -> list[str]:
    text = visible_text(html)
    for name in sorted(allowed, key=len, reverse=True):  # the longest first: names inside texts
        text = text.replace(name, " ")
    return sorted({match.group(0) for match in ENGLISH.finditer(text)})


def _allowed(world) -> set[str]:
    """Names from the data (organizations, environments, users, descriptions, audit objects)."""
    names = {"Acme Corp", "Globex", "Production", "Agent 1", "acme-srv01", "Licensing portal"}
    names |= {event.object_repr for event in AuditEvent.objects.all() if event.object_repr}
    return names


@pytest.mark.parametrize("role", ["org_admin", "super_admin"])
def test_every_main_page_is_german_for_a_german_reader(world, role):
    client = german(world.client(role))
    pages = main_pages(world) | (SUPER_ADMIN_PAGES if role == "super_admin" else {})
    if role == "org_admin":
        pages.pop("people")  # the org admin's people page is the same template as the super-admin's
    allowed = _allowed(world)
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (name, url, response.status_code)
        html = response.content.decode()
        assert '<html lang="de">' in html, name
        assert english_left(html, allowed) == [], (name, url)


def test_the_sign_in_page_and_the_partners_page_are_german(world):
    response = german(Client()).get("/accounts/login/")
    assert "Anmelden" in response.content.decode()
    assert english_left(response.content.decode(), _allowed(world)) == []
    for url in ("/accounts/password_reset/", "/accounts/password_reset/done/", "/no-such-page/"):
        response = german(Client()).get(url)
        assert english_left(response.content.decode(), _allowed(world)) == [], url
    response = german(world.client("partner")).get("/")
    assert english_left(response.content.decode(), _allowed(world)) == []


def test_english_stays_the_default(world):
    html = world.client("org_admin").get("/organizations/acme/machines/").content.decode()
    assert '<html lang="en">' in html and "Machines" in html


def test_the_switcher_remembers_the_choice_on_the_account(world):
    client = world.client("org_admin")
    response = client.post("/i18n/setlang/", {"language": "de", "next": "/organizations/acme/machines/"})
    assert response.status_code == 302 and response["Location"] == "/organizations/acme/machines/"
    user = world.users["org_admin"]
    user.refresh_from_db()
    assert user.language == "de"
    assert AuditEvent.objects.filter(action="user.set_language", object_id=str(user.pk)).count() == 1
    # Another browser (no cookie, an English Accept-Language) still gets German for this user.
    other = Client(HTTP_ACCEPT_LANGUAGE="en")
    other.force_login(user)
    assert '<html lang="de">' in other.get("/").content.decode()


def test_the_switcher_works_signed_out_with_a_cookie(world):
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "de", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert "Anmelden" in client.get("/accounts/login/").content.decode()


def test_the_switcher_answers_only_posts_and_never_leaves_the_portal(world):
    client = world.client("org_admin")
    assert client.get("/i18n/setlang/").status_code == 405
    response = client.post("/i18n/setlang/", {"language": "de", "next": "https://elsewhere.example/"})
    assert response.status_code == 302 and not response["Location"].startswith("https://elsewhere")


def test_an_unknown_language_changes_nothing(world):
    client = world.client("org_admin")
    client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
    user = world.users["org_admin"]
    user.refresh_from_db()
    assert user.language == ""


def test_german_dates_and_numbers(world):
    html = german(world.client("org_admin")).get("/organizations/acme/").content.decode()
    assert re.search(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", html)
    html = world.client("org_admin").get("/organizations/acme/").content.decode()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", html)


def test_the_catalogue_has_no_untranslated_or_fuzzy_entry():
    po = (LOCALE / "django.po").read_text()
    entries = po.split("\n\n")[1:]  # the first entry is the header
    untranslated = [entry for entry in entries if re.search(r'^msgstr(\[\d\])? ""\n(?!")', entry + "\n", re.M)]
    fuzzy = [entry for entry in entries if "#, fuzzy" in entry]
    assert untranslated == [] and fuzzy == []


_CALL = re.compile(r"\b(gettext|ngettext|pgettext|npgettext)\(((?:u'(?:[^'\\]|\\.)*'(?:, )?)+)")
_LITERAL = re.compile(r"u'(?:[^'\\]|\\.)*'")
_PYTHON_CALLS = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy", "pgettext"}


def _template_messages() -> set[tuple[str, str]]:
    """(context, msgid) of every translatable text of the templates, as makemessages reads them."""
    from django.utils.translation.template import templatize

    found = set()
    for path in (Path(settings.BASE_DIR) / "templates").rglob("*"):
        if path.suffix not in (".html", ".txt"):
            continue
        for function, arguments in _CALL.findall(templatize(path.read_text(), origin=str(path))):
            strings = [ast.literal_eval(literal) for literal in _LITERAL.findall(arguments)]
            context = strings.pop(0) if function.startswith(("p", "np")) else ""
            found.add((context, strings[0]))
    return found


def _python_messages() -> set[tuple[str, str]]:
    """(context, msgid) of every gettext call with a literal in the portal's Python."""
    found = set()
    base = Path(settings.BASE_DIR)
    for app in ("accounts", "audit", "core", "environments", "licenses", "organizations", "integrations"):
        for path in (base / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) in _PYTHON_CALLS:
                    first = node.args[0] if node.args else None
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        found.add(("", first.value))
    return found


def test_every_marked_string_has_a_german_translation_in_the_compiled_catalogue():
    """Fails for a template or Python string marked for translation that has no German text in the
    committed django.mo: the catalogue was not updated (scripts/translations) or not compiled."""
    with (LOCALE / "django.mo").open("rb") as handle:
        catalogue = gettext_module.GNUTranslations(handle)._catalog
    translated = {key for key, value in catalogue.items() if value}
    translated |= {key[0] for key in translated if isinstance(key, tuple)}  # plural forms
    missing = []
    for context, msgid in _template_messages() | _python_messages():
        key = f"{context}\x04{msgid}" if context else msgid
        if key not in translated:
            missing.append((context, msgid))
    assert sorted(missing) == []
    assert len(_template_messages()) > 300  # the extraction itself works


def test_the_trial_pages_banner_preview_follows_the_page(world):
    """The banner agents show, previewed on the trial page, as an agent asking in that language gets it."""
    banner = re.compile(r'<p class="banner-preview" data-testid="trial-banner">(.*?)</p>', re.S)
    german_html = german(world.client("org_admin")).get("/organizations/acme/trial/").content.decode()
    english_html = world.client("org_admin").get("/organizations/acme/trial/").content.decode()
    assert re.match(
        r"Testlizenz: .* bis \d\d\.\d\d\.\d{4} \d\d:\d\d UTC\. .* \(noch \d+ Tage?\)$", banner.search(german_html)[1]
    )
    assert re.match(
        r"Trial license: .* until \d{4}-\d\d-\d\d \d\d:\d\d UTC\. .* \(\d+ days? left\)$",
        banner.search(english_html)[1],
    )


def test_the_read_only_notes_are_german_for_a_co_admin(world):
    """What a co-admin sees instead of the buttons: who issues machine keys, temporary keys read-only."""
    client = german(world.client("co_admin"))
    pages = {
        "licenses": ("/organizations/acme/licenses/", "Maschinenschlüssel stellen die Admins von Acme Corp"),
        "temporary keys": ("/organizations/acme/temporary-keys/", "Temporäre Schlüssel stellen Super-Admins für"),
        "temporary key": (f"/keys/{world.temporary_key.public_id}/", "Temporäre Schlüssel stellen Super-Admins aus"),
    }
    for name, (url, note) in pages.items():
        html = client.get(url).content.decode()
        assert note in html, name
        assert english_left(html, _allowed(world)) == [], name
