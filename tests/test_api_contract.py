"""The public contract: ``Assistant().ask(...).to_dict()``, errors, and ``audit()``."""

from __future__ import annotations

import json

import pytest

from assistant import Assistant as ExportedAssistant
from assistant.core import Assistant
from assistant.errors import AssistantError, BackendError, QuestionError
from index.document import SECTIONS, Document
from index.settings import AnsweringSettings

MAX_QUESTION_CHARS = AnsweringSettings.max_question_chars

CONTRACT_KEYS = {"question", "status", "text", "quotes", "claims", "backend"}
QUOTE_KEYS = {"text", "start", "end", "section", "footnotes", "document_id", "document_title"}
CLAIM_KEYS = {"text", "supported", "quotes"}
AUDIT_KEYS = {
    *("id", "text", "start", "end", "section", "status", "footnotes", "hedges"),
    *("document_id", "document_title"),  # each row names its document, one or many
}

QUESTIONS = [
    "How many police officers were injured?",
    "What did Jen Psaki say about the claims that the US was behind the violence?",
    "What did the reader who commented on the article say?",
    "What is the GDP of France?",
]


def _check_contract(data: dict, question: str, document: Document) -> None:
    document_text = document.text
    assert set(data) == CONTRACT_KEYS
    assert data["question"] == question
    assert data["status"] in {"answered", "not_in_document"}
    assert isinstance(data["text"], str) and data["text"]
    assert data["backend"] == "extractive"
    assert isinstance(data["quotes"], list) and isinstance(data["claims"], list)
    for q in data["quotes"]:
        assert set(q) == QUOTE_KEYS
        assert isinstance(q["text"], str)
        assert type(q["start"]) is int and type(q["end"]) is int
        assert document_text[q["start"] : q["end"]] == q["text"]
        assert q["section"] in SECTIONS
        assert isinstance(q["footnotes"], list)
        assert all(type(n) is int for n in q["footnotes"])
        assert q["document_id"] == document.id
        assert q["document_title"] == document.title
    for c in data["claims"]:
        assert set(c) == CLAIM_KEYS
        assert isinstance(c["text"], str) and c["text"]
        assert type(c["supported"]) is bool
        assert isinstance(c["quotes"], list)
        assert all(type(i) is int and 0 <= i < len(data["quotes"]) for i in c["quotes"])
    if data["status"] == "not_in_document":
        assert data["quotes"] == [] and data["claims"] == []
    else:
        assert data["claims"] and data["quotes"]
    assert json.loads(json.dumps(data)) == data  # plain JSON types only


@pytest.mark.parametrize("question", QUESTIONS)
def test_to_dict_matches_the_contract(bot: Assistant, question: str) -> None:
    _check_contract(bot.ask(question).to_dict(), question, bot.document)


def test_sections_are_the_nine_allowed_values() -> None:
    assert set(SECTIONS) == {
        "title", "alt", "caption", "dateline", "heading", "body", "comments_heading", "comment",
        "note",
    }  # fmt: skip


def test_footnotes_in_a_quote(bot: Assistant) -> None:
    data = bot.ask("How many police officers were injured?").to_dict()
    assert data["status"] == "answered"
    assert [9] in [q["footnotes"] for q in data["quotes"]]


def test_document_and_exports(bot: Assistant) -> None:
    assert isinstance(bot.document, Document)
    assert bot.document.path == bot.document_path
    assert ExportedAssistant is Assistant
    assert issubclass(QuestionError, AssistantError) and issubclass(BackendError, AssistantError)


def test_default_backend_without_a_key_is_extractive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert Assistant().backend_name == "extractive"


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "empty"),
        ("   \n\t  ", "empty"),
        ("x" * (MAX_QUESTION_CHARS + 1), "limit"),
        (None, "text"),
        (42, "text"),
    ],
    ids=["empty", "whitespace", "too-long", "none", "int"],
)
def test_bad_question_raises_and_the_bot_still_works(
    bot: Assistant, question: object, message: str
) -> None:
    with pytest.raises(QuestionError, match=message):
        bot.ask(question)  # type: ignore[arg-type]
    answer = bot.ask("How many police officers were injured?")
    assert answer.status == "answered"


def test_question_at_the_limit_is_accepted(bot: Assistant) -> None:
    question = "How many police officers were injured? " + "x" * (
        MAX_QUESTION_CHARS - len("How many police officers were injured? ")
    )
    assert len(question) == MAX_QUESTION_CHARS
    answer = bot.ask(question)
    assert answer.status in {"answered", "not_in_document"}


def test_unknown_backend_raises() -> None:
    with pytest.raises(AssistantError, match="unknown backend 'nope'"):
        Assistant(backend="nope")


# -- audit --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audit_rows(bot: Assistant) -> list[dict]:
    return bot.audit()


def _row(rows: list[dict], opening: str) -> dict:
    found = [r for r in rows if r["text"].startswith(opening)]
    assert len(found) == 1, opening
    return found[0]


def test_audit_covers_every_sentence(bot: Assistant, audit_rows: list[dict]) -> None:
    assert [r["id"] for r in audit_rows] == [s.id for s in bot.document.sentences]
    for row, sentence in zip(audit_rows, bot.document.sentences, strict=True):
        assert set(row) == AUDIT_KEYS
        assert row["document_id"] == bot.document.id
        assert row["status"] in {"cited", "uncited", "hedged", "quoted"}
        assert (row["text"], row["start"], row["end"]) == (
            sentence.text,
            sentence.start,
            sentence.end,
        )
        assert row["section"] == sentence.section
        assert row["footnotes"] == list(sentence.footnotes)
        assert json.loads(json.dumps(row)) == row


@pytest.mark.parametrize(
    ("opening", "status", "footnotes"),
    [
        ("There are some reports that NEXTA", "hedged", [5]),
        ("Plausible claims say", "hedged", []),
        ("There are some estimates that today", "hedged", [4]),
        ("“There are some crazy Russian claims", "quoted", [1]),
        ("Government buildings were stormed", "cited", [9]),
        ("Rioters beat up some 500 civilians", "cited", [10]),
        ("The OSF has been operating in Kazakhstan since 1995", "uncited", []),
        ("So far, Russia, Belarus, Tajikistan and Armenia", "uncited", []),
        ("excellent analysis and conclusion", "uncited", []),
    ],
)
def test_audit_statuses(audit_rows: list[dict], opening: str, status: str, footnotes: list) -> None:
    row = _row(audit_rows, opening)
    assert row["status"] == status
    assert row["footnotes"] == footnotes
    assert bool(row["hedges"]) == (status == "hedged")


def test_audit_keeps_the_hedge_words(audit_rows: list[dict]) -> None:
    assert _row(audit_rows, "There are some reports that NEXTA")["hedges"] == [
        "There are some reports"
    ]
    assert _row(audit_rows, "Plausible claims say")["hedges"] == ["Plausible claims"]


def test_audit_counts(audit_rows: list[dict]) -> None:
    by_status: dict[str, int] = {}
    for row in audit_rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    # 12 footnoted sentences: 1 quoted (Psaki), 2 hedged (estimates, NEXTA reports), 9 cited
    assert by_status["cited"] == 9
    assert by_status["quoted"] == 1
    assert sum(1 for r in audit_rows if r["footnotes"]) == 12
