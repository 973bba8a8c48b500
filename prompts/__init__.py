"""Prompt files, rendered strictly: a variable the template uses but the caller omits is an
error, never an empty string silently sent to a model.

The templates live beside this module, so they are found both in a source checkout and in
an installed wheel (they ship as package data).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from index.errors import PromptError


@cache
def _environment():
    import jinja2

    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def source(name: str) -> str:
    """The raw template text of ``prompts/<name>.md``."""
    try:
        return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"prompt file not found: prompts/{name}.md") from None


def render(name: str, /, **variables: object) -> str:
    """Render ``prompts/<name>.md``; missing variables raise ``PromptError``."""
    import jinja2

    try:
        template = _environment().from_string(source(name))
        return template.render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise PromptError(f"prompt {name!r}: {exc.message}") from None
