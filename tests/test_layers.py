"""The house's layers: dependencies point one way.

    core -> audit -> organizations -> environments -> licenses -> accounts -> integrations
        -> notifications -> pages

A module of an app imports only its own app and the apps before it. Page modules (views, urls,
forms, admin, management commands, template tags, ``licensing_portal``'s settings and urls) are the
top layer: they may import any app. The test reads the source (imports inside functions count
too), so a lower layer reaching up fails here before it turns into an import cycle at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "audit", "organizations", "environments", "licenses", "accounts", "integrations", "notifications"]
PAGE_PARTS = {"views", "urls", "forms", "admin", "management", "templatetags", "tabs", "migrations"}


def _modules():
    for app in LAYERS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield app, parts, path


def _imported_apps(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in LAYERS or top == "licensing_portal":
                found.add((top, node.lineno))
    return found


def _is_page_module(parts: tuple[str, ...]) -> bool:
    return any(part in PAGE_PARTS for part in parts[1:])


def test_every_layer_imports_only_itself_and_the_layers_before_it():
    wrong = []
    for app, parts, path in _modules():
        if _is_page_module(parts):
            continue
        for imported, line in _imported_apps(path):
            if imported == "licensing_portal" or LAYERS.index(imported) > LAYERS.index(app):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert sorted(wrong) == []


def test_core_imports_no_app():
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for app, parts, path in _modules()
        if app == "core" and not {"management"} & set(parts)
        for imported, line in _imported_apps(path)
        if imported != "core"
    ]
    assert wrong == []


@pytest.mark.parametrize("app", LAYERS)
def test_each_module_stays_under_about_five_hundred_lines(app):
    longer = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for _, parts, path in _modules()
        if parts[0] == app and "migrations" not in parts
        for lines in [len(path.read_text().splitlines())]
        if lines > 520
    ]
    assert longer == []
