"""Playwright driving Debian's Chromium against the live portal (see /work/shared/TESTING.md).

Every test signs in through the login form of a ``live_server``; a failing test leaves a
screenshot of its page in ``test-results/``. Any browser console error (a script error, a
Content-Security-Policy violation) fails the test.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's event loop shares the test thread

import pytest

from tests.conftest import FINGERPRINT, PASSWORD, World

RESULTS = Path(__file__).resolve().parents[2] / "test-results"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def base_url():
    """None: the tests open the live server's own URL. (pytest-playwright's fallback ``base_url`` is
    a fixture method, which pytest deprecates with a warning on every run.)"""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "permissions": ["clipboard-read", "clipboard-write"],
        "viewport": {"width": 1280, "height": 900},
        "accept_downloads": True,
    }


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _static_files_and_rate_limits(settings):
    from django.core.cache import cache

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _watch_the_page(request, page):
    """Fail on console errors; on failure, save a screenshot named after the test."""
    errors: list[str] = []

    def on_console(message):
        # A page answered 400/403/404 on purpose logs "Failed to load resource"; sub-resources are checked below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response):
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(5000)
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        RESULTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::")[-1])
        page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)
    elif report is not None and report.passed:
        assert not errors, f"browser console errors: {errors}"


@pytest.fixture
def world(transactional_db, live_server):
    return World()


class Portal:
    """The live portal as a user sees it, and the agent API as an agent calls it (real HTTP)."""

    def __init__(self, page, live_server):
        self.page = page
        self.url = live_server.url

    def open(self, path: str):
        self.page.goto(self.url + path)
        return self.page

    def sign_in(self, username: str, password: str = PASSWORD):
        page = self.open("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(self.url + "/")
        return page

    def copied(self, button_name: str = "Copy") -> str:
        """Click the Copy button and return what landed on the clipboard."""
        self.page.get_by_role("button", name=button_name).first.click()
        self.page.get_by_role("button", name="Copied").first.wait_for()
        return self.page.evaluate("navigator.clipboard.readText()")

    def agent(self, endpoint: str, key: str, fingerprint: dict | None = None) -> dict:
        body = json.dumps({"license_key": key, "fingerprint": fingerprint or FINGERPRINT}).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v1/{endpoint}", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture
def portal(page, live_server):
    return Portal(page, live_server)
