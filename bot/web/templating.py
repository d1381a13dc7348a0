"""Jinja2 pages in the visitor's language, safe to render for many languages at once.

The environment is shared by concurrent requests, so the language is never installed on it:
each render gets its own `_`, `gettext` and `ngettext` in the template context (context names
win over the environment's globals, for `{{ _() }}` and `{% trans %}` alike).

Templates use Jinja's "new style" gettext: `{{ _("Hello %(name)s", name=user) }}`,
`{{ ngettext("%(num)d file", "%(num)d files", n) }}` and `{% trans %}…{% endtrans %}`, all
percent-formatted and auto-escaped. (Python code uses `{name}` brace placeholders instead.)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel import Locale
from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from bot.i18n.catalog import Catalogs
from bot.i18n.negotiate import text_direction

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def make_jinja_env(catalogs: Catalogs, templates_dir: Path | None = None) -> Environment:
    """Build the one shared environment: autoescaping, i18n extension, our templates."""
    env = Environment(
        loader=FileSystemLoader(templates_dir or TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    # English globals for any render that does not go through `render_page`; they also switch
    # `{% trans %}` to new-style calls, which the per-render callables below expect.
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


def _format(
    context: Context, lang: str, translated: str, source: str, variables: dict[str, Any]
) -> str:
    text: str = Markup(translated) if context.eval_ctx.autoescape else translated
    try:
        return text % variables
    except (KeyError, ValueError, TypeError):
        logger.warning("i18n.bad_translation lang=%s msgid=%r", lang, source)
    fallback: str = Markup(source) if context.eval_ctx.autoescape else source
    return fallback % variables


def gettext_callables(catalogs: Catalogs, lang: str) -> dict[str, Callable[..., str]]:
    """The `_`, `gettext` and `ngettext` a template needs to speak `lang`."""

    @pass_context
    def gettext(context: Context, message: str, /, **variables: Any) -> str:
        return _format(context, lang, catalogs.gettext(lang, message), message, variables)

    @pass_context
    def ngettext(
        context: Context, singular: str, plural: str, num: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", num)
        source = singular if num == 1 else plural
        translated = catalogs.ngettext(lang, singular, plural, num)
        return _format(context, lang, translated, source, variables)

    def plural_forms(singular: str, plural: str, /) -> dict[str, str]:
        return {
            category: catalogs.ngettext(lang, singular, plural, sample)
            for category, sample in plural_samples(lang).items()
        }

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext, "plural_forms": plural_forms}


@functools.cache
def plural_samples(lang: str) -> dict[str, int]:
    """One count per CLDR plural category of `lang` ("one": 1, "many": 1000000 in French...).

    Pages that count in the browser get every form of a plural message, keyed by category,
    and pick one with `Intl.PluralRules`, which speaks the same CLDR categories as Babel.
    """
    rule = Locale.parse(lang).plural_form
    samples: dict[str, int] = {}
    for count in (*range(0, 1000), 1_000_000):
        samples.setdefault(rule(count), count)
    return samples


def render_page(
    env: Environment, catalogs: Catalogs, template_name: str, lang: str, **context: Any
) -> str:
    """Render a page in `lang`, giving the template `lang`, `dir` and the gettext callables."""
    lang = catalogs.resolve(lang)
    template = env.get_template(template_name)
    return template.render(
        {**context, "lang": lang, "dir": text_direction(lang), **gettext_callables(catalogs, lang)}
    )
