"""HTML for the authentication device's pages: Jinja2 with autoescaping, and headers that
keep the pages out of caches, frames and Referer headers (the URL carries a secret).

An operator brands the pages with CIBA_TEMPLATES_DIR: a template of the same name there is
used instead of the built-in one (README, "Branding the pages", lists names and variables).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import jinja2
from aiohttp import web
from babel.numbers import format_currency

from services.gateway.device import locale

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


class Templates:
    """The pages' Jinja environment, built once by the gateway's wiring (build_gateway): the
    operator's directory (CIBA_TEMPLATES_DIR) first when there is one, then the built-in
    templates. Autoescaped; _() and {% trans %} speak the page's language (device/locale.py),
    chosen per request."""

    def __init__(self, directory: str | None = None) -> None:
        self.use_directory(directory)

    def use_directory(self, directory: str | None) -> None:
        """Look in ``directory`` first for every template (None: the built-in ones only)."""
        built_in = jinja2.PackageLoader("services.gateway", "templates")
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(directory), built_in]) if directory else built_in
        environment = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                                         extensions=["jinja2.ext.i18n"])
        environment.install_gettext_callables(  # type: ignore[attr-defined]
            locale.gettext, locale.ngettext, newstyle=True)
        environment.filters["money"] = money
        self._environment = environment

    def render(self, template: str, context: dict[str, Any], *, status: int = 200,
               headers: dict[str, str] | None = None) -> web.Response:
        html = self._environment.get_template(template).render(lang=locale.current(), **context)
        return web.Response(text=html, status=status, content_type="text/html",
                            headers={**PAGE_HEADERS, "Content-Language": locale.current(), **(headers or {})})

    def message(self, title: str, message: str, *, status: int,
                headers: dict[str, str] | None = None) -> web.Response:
        return self.render("message.html", {"title": title, "message": message}, status=status, headers=headers)


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
