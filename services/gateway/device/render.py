"""HTML for the authentication device's pages: Jinja2 with autoescaping, and headers that
keep the pages out of caches, frames and Referer headers (the URL carries a secret).

An operator brands the pages with CIBA_TEMPLATES_DIR: a template of the same name there is
used instead of the built-in one (README, "Branding the pages", lists names and variables).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import jinja2
from aiohttp import web
from babel.numbers import format_currency

from services.gateway.device import locale

_templates_dir: str | None = None


def use_templates_dir(path: str | None) -> None:
    """Look in ``path`` first for every template (CIBA_TEMPLATES_DIR)."""
    global _templates_dir
    _templates_dir = path
    _environment.cache_clear()


@functools.cache
def _environment() -> jinja2.Environment:
    built_in = jinja2.PackageLoader("services.gateway", "templates")
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(_templates_dir), built_in]) if _templates_dir else built_in
    environment = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                                     extensions=["jinja2.ext.i18n"])
    # _() and {% trans %} speak the page's language (device/locale.py), chosen per request.
    environment.install_gettext_callables(locale.gettext, locale.ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.filters["money"] = money
    return environment


def money(amount: object, currency: object) -> str:
    """``{{ amount | money(currency) }}``: an amount as the page's language writes it, every
    digit the client sent kept ("€1,234.50", "1 234,50 €"); as given when it is not a number."""
    try:
        value = Decimal(str(amount))
        if value.is_finite():
            return format_currency(value, str(currency), locale=locale.current(), decimal_quantization=False)
    except (ArithmeticError, ValueError, TypeError, LookupError):
        pass
    return f"{amount} {currency}"

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def render(template: str, context: dict[str, Any], *, status: int = 200,
           headers: dict[str, str] | None = None) -> web.Response:
    html = _environment().get_template(template).render(lang=locale.current(), **context)
    return web.Response(text=html, status=status, content_type="text/html",
                        headers={**PAGE_HEADERS, "Content-Language": locale.current(), **(headers or {})})


def render_message(title: str, message: str, *, status: int,
                   headers: dict[str, str] | None = None) -> web.Response:
    return render("message.html", {"title": title, "message": message}, status=status, headers=headers)
