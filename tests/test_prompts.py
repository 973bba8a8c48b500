"""Prompt templates: found as package resources, rendered strictly."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import pytest

import prompts
from assistant.errors import AssistantError, PromptError
from prompts import render

SHIPPED = ["answer_system", "answer_user", "rewrite"]


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """``prompts.source`` is lru_cached: start and end each test with it empty."""
    original = prompts.source
    original.cache_clear()
    yield
    original.cache_clear()


def _fake_source(templates: dict[str, str]):
    def source(name: str) -> str:
        try:
            return templates[name]
        except KeyError:
            raise PromptError(f"prompt file not found: prompts/{name}.md") from None

    return source


def test_missing_prompt_file(fresh_cache: None) -> None:
    with pytest.raises(PromptError, match=r"prompt file not found: prompts/no_such_prompt_x7\.md"):
        render("no_such_prompt_x7")
    assert issubclass(PromptError, AssistantError)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_prompts_are_package_resources(fresh_cache: None, name: str) -> None:
    resource = resources.files("prompts").joinpath(f"{name}.md")
    assert resource.is_file()
    assert prompts.source(name) == resource.read_text(encoding="utf-8")


def test_rewrite_renders_with_all_variables(fresh_cache: None) -> None:
    history = [
        {"role": "user", "content": "Who is Jen Psaki?"},
        {"role": "assistant", "content": "The White House Press Secretary."},
    ]
    text = render("rewrite", question="What did she say?", history=history)
    assert "What did she say?" in text
    assert "user: Who is Jen Psaki?" in text
    assert "assistant: The White House Press Secretary." in text
    assert "{{" not in text and "{%" not in text
    assert text == text.strip()


def test_rewrite_without_question_raises(fresh_cache: None) -> None:
    with pytest.raises(PromptError, match=r"'rewrite'.*question"):
        render("rewrite", history=[])


def test_strict_rendering_of_a_template(fresh_cache: None, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = {"greeting": "Hello {{ name }}, you asked: {{ question }}\n"}
    monkeypatch.setattr(prompts, "source", _fake_source(templates))
    assert render("greeting", name="Ada", question="Why?") == "Hello Ada, you asked: Why?"
    with pytest.raises(PromptError, match=r"'greeting'.*'question' is undefined"):
        render("greeting", name="Ada")
    with pytest.raises(PromptError, match="'greeting'"):
        render("greeting")
    with pytest.raises(PromptError, match="not found"):
        render("farewell")


def test_missing_attribute_of_a_supplied_variable_raises(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = {"turns": "{% for t in history %}{{ t.role }}: {{ t.text }}\n{% endfor %}"}
    monkeypatch.setattr(prompts, "source", _fake_source(templates))
    with pytest.raises(PromptError, match="'turns'"):
        render("turns", history=[{"role": "user", "content": "hi"}])


def test_values_are_not_html_escaped(fresh_cache: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompts, "source", _fake_source({"raw": "<q>{{ text }}</q>"}))
    assert render("raw", text="“a & b” <c>") == "<q>“a & b” <c></q>"
