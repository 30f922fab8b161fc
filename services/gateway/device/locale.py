"""The language of the authentication device's pages.

Chosen per page: the first supported language of the request's ``ui_locales`` (OIDC Core
3.1.2.1, sent with the authentication request), else of the browser's ``Accept-Language``,
else English. The catalogues are gettext ``.po`` files under services/gateway/locale, read
with Babel when first needed (no compiled ``.mo`` files to keep in step). README,
"Languages of the pages", says how to add a language.

The language travels in a context variable: the pages' middleware (device/app.py) sets it
from Accept-Language for every page, and a page tied to a request refines it with ui_locales,
so messages made in Python (errors, titles) and in templates read alike.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
import re
from contextvars import ContextVar
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT = "en"
# Every language with a catalogue, and English, which needs none (the messages are English).
SUPPORTED = ("en", "fr")
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

# A BCP 47 tag as it appears in ui_locales or Accept-Language (language-region, no wildcards).
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
MAX_UI_LOCALES = 10

_current: ContextVar[str] = ContextVar("device_page_language", default=DEFAULT)


def well_formed_ui_locales(value: object) -> str | None:
    """What to store of a request's ui_locales: its well-formed tags, space-separated. OIDC
    makes it a preference, so a malformed or unsupported tag is dropped, never an error."""
    if not isinstance(value, str) or not value:
        return None
    tags = [tag for tag in value.split() if len(tag) <= 35 and _TAG.fullmatch(tag)][:MAX_UI_LOCALES]
    return " ".join(tags) or None


def _supported(tag: str) -> str | None:
    tag = tag.lower().replace("_", "-")
    if tag in SUPPORTED:
        return tag
    primary = tag.split("-", 1)[0]
    return primary if primary in SUPPORTED else None


def _accept_language(header: str) -> list[str]:
    """The header's tags, most wanted first (RFC 9110 12.5.4); q=0 means 'not this one'."""
    weighted = []
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and _TAG.fullmatch(tag.strip()):
            weighted.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(ui_locales: str | None, accept_language: str | None) -> str:
    for tag in (ui_locales or "").split():
        if chosen := _supported(tag):
            return chosen
    for tag in _accept_language(accept_language or ""):
        if chosen := _supported(tag):
            return chosen
    return DEFAULT


def prefer(ui_locales: str | None) -> None:
    """Speak the first supported language the request asked for, if any (else keep the
    browser's choice, set by the pages' middleware)."""
    for tag in (ui_locales or "").split():
        if chosen := _supported(tag):
            use(chosen)
            return


def use(language: str) -> None:
    """Speak ``language`` for the rest of this request."""
    _current.set(language)


def current() -> str:
    return _current.get()


@functools.cache
def translations(language: str) -> _gettext.NullTranslations:
    if language == DEFAULT:
        return _gettext.NullTranslations()
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


# Marks a message for extraction where it is defined, translated later where it is shown.
def N_(message: str) -> str:  # noqa: N802 (the gettext convention)
    return message
