"""Languages: English and Simplified Chinese, from Babel message catalogues read at start-up."""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = Path(__file__).resolve().parent / "locales"
SUPPORTED = ("en", "zh-CN")
DEFAULT = "en"

current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT)


def babel_locale(language: str) -> str:
    return language.replace("-", "_")


@cache
def translations(language: str) -> NullTranslations:
    po = LOCALES / babel_locale(language) / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    # Compiled here rather than by a build step, so a .mo can never be older than its .po.
    with po.open("rb") as source:
        catalog = read_po(source, locale=babel_locale(language))
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext(message: str) -> str:
    context = getattr(message, "context", None)
    if context:
        return translations(current_language.get()).pgettext(context, message)
    return translations(current_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, n)


class Translatable(str):
    """A message-parameter that is itself a message: translated with the message that carries it.

    It may carry a context (`p_`), for a word that reads differently in two places ("Open" as a
    case's state, "Open" as an amount still owed).
    """

    context: str | None

    def __new__(cls, message: str, context: str | None = None) -> Translatable:
        text = super().__new__(cls, message)
        text.context = context if context is not None else getattr(message, "context", None)
        return text


def _(message: str) -> str:
    """Marks a message for extraction; translation happens where it is shown (`gettext`)."""
    return message


def p_(context: str, message: str) -> Translatable:
    """Marks a message with its context for extraction (`pybabel extract -k p_:1c,2`); `gettext` translates it."""
    return Translatable(message, context)


def normalise(language: str | None) -> str | None:
    if not language:
        return None
    tag = language.strip().replace("_", "-").lower()
    if tag.startswith("zh"):
        # Simplified Chinese is what we have; Traditional-script readers still get Chinese.
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def negotiate(*preferences: str | None, accept_language: str | None = None) -> str:
    for preference in preferences:
        if chosen := normalise(preference):
            return chosen
    if accept_language:
        weighted = []
        for index, part in enumerate(accept_language.split(",")):
            tag, _sep, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            weighted.append((-quality, index, tag))
        for _q, _i, tag in sorted(weighted):
            if chosen := normalise(tag):
                return chosen
    return DEFAULT
