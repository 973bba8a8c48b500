"""The offline answerer's question-type rules, on a small article written for the test."""

from __future__ import annotations

import pytest

from assistant import Assistant
from index.settings import Settings

ARTICLE = """Harbour town keeps its ferry

Riverton, Norway, Denmark and Sweden sent observers to the harbour vote.

The harbour board counted 412 votes for the ferry and 96 against it. This surprised the mayor,
who had expected a close result.

The ferry has carried passengers since 1952. It makes the crossing in forty minutes.

The old lighthouse was painted white in the spring. Tourists climbed it all summer.
"""


@pytest.fixture(scope="module")
def harbour(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root = tmp_path_factory.mktemp("harbour")
    path = root / "harbour.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    return Assistant(document=path, backend="extractive", cache_dir=root / "cache")


@pytest.fixture(scope="module")
def harbour_rules(harbour: Assistant) -> Assistant:
    """The hand-written answerer alone: what its question-type rules decide, ungated."""
    return Assistant(
        document=harbour.document_path,
        backend="extractive",
        cache_dir=harbour.document_path.parent / "cache",
        settings=Settings.preset("rules"),
    )


@pytest.fixture(scope="module")
def harbour_gated(harbour: Assistant) -> Assistant:
    """The question-type rules as the ``gated`` preset runs them: they choose, the reader
    can only stop them."""
    return Assistant(
        document=harbour.document_path,
        backend="extractive",
        cache_dir=harbour.document_path.parent / "cache",
        settings=Settings.preset("gated"),
    )


def _quoted(answer) -> str:
    return " ".join(q.text for q in answer.quotes)


def test_a_count_must_count_what_is_asked(harbour_gated: Assistant) -> None:
    yes = harbour_gated.ask("How many votes were cast for the ferry?")
    assert yes.status == "answered" and "412 votes" in _quoted(yes)
    no = harbour_gated.ask("How many tourists climbed the lighthouse?")
    assert no.status == "not_in_document"


@pytest.mark.xfail(strict=True, reason="the typed rule is off beside the reader (-0.4 points)")
def test_the_default_knows_a_count_needs_a_figure(harbour: Assistant) -> None:
    """A known miss of the default: the reader answers "How many tourists...?" with
    "Tourists climbed it all summer."; the typed rule that catches it cost 0.4 points on
    the reading set's dev split and 0.8 on the article's beside the reader, so it stays
    off."""
    assert harbour.ask("How many tourists climbed the lighthouse?").status == "not_in_document"


def test_a_list_answers_how_many_countries(harbour_rules: Assistant) -> None:
    a = harbour_rules.ask("How many countries sent observers?")
    assert a.status == "answered" and "Norway, Denmark and Sweden" in _quoted(a)


def test_the_default_answers_how_many_countries(harbour: Assistant) -> None:
    """A strict xfail while the gate stopped it (the reader scored the list sentence
    0.065); the reader trained on more questions answers it."""
    a = harbour.ask("How many countries sent observers?")
    assert a.status == "answered" and "Norway, Denmark and Sweden" in _quoted(a)


def test_a_date_question_needs_a_date(harbour_gated: Assistant) -> None:
    ask = harbour_gated.ask
    assert "1952" in _quoted(ask("Since what year has the ferry carried passengers?"))
    assert "in the spring" in _quoted(ask("When was the lighthouse painted?"))
    assert ask("On what date was the harbour vote held?").status == "not_in_document"


def test_a_relation_needs_both_sides_in_one_passage(harbour: Assistant) -> None:
    a = harbour.ask("What is the colour of Riverton?")
    assert a.status == "not_in_document"


def test_a_sentence_pointing_back_brings_its_antecedent(harbour: Assistant) -> None:
    a = harbour.ask("What surprised the mayor?")
    assert a.status == "answered"
    assert "412 votes" in _quoted(a) and "This surprised the mayor" in _quoted(a)
