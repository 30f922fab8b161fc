"""CIBA_TEMPLATES_DIR: a device-page template of the same name there replaces the built-in one;
the others stay as they are."""

from __future__ import annotations

import pytest

from shared.settings import Settings


@pytest.fixture
def branded(tmp_path, gateway):
    (tmp_path / "base.html").write_text(
        '<!doctype html><html lang="en"><head><title>{% block title %}{% endblock %}</title></head>'
        '<body><header>ACME Bank</header>{% block content %}{% endblock %}</body></html>')
    gateway.templates.use_directory(str(tmp_path))
    yield tmp_path
    gateway.templates.use_directory(None)


async def test_an_operator_template_replaces_the_built_in_one(http, branded) -> None:
    answer = await http.get("/device/no-such-link")
    html = await answer.text()
    assert answer.status == 404
    assert "<header>ACME Bank</header>" in html  # the operator's base.html ...
    assert "This link is not valid." in html  # ... around the built-in message.html
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")  # headers stay ours


async def test_without_the_setting_the_built_in_pages_are_used(http) -> None:
    html = await (await http.get("/device/no-such-link")).text()
    assert "ACME Bank" not in html and "This link is not valid." in html


def test_the_setting_must_name_a_directory(tmp_path) -> None:
    with pytest.raises(ValueError, match="is not a directory"):
        Settings(env="development", templates_dir=str(tmp_path / "missing"))
