"""Property-based tests (hypothesis) over generated documents and questions.

Whatever the document and the question, every quote returned is the document's text at
its offsets, offsets stay in range, and nothing raises but the project's own errors.
Example counts are bounded so the file runs in well under a minute on two cores
(``ASSISTANT_PROPERTY_SCALE=10`` multiplies them for a longer hunt); the embedding model
is the session's, shared by every generated document's assistant.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from assistant import Answer, Assistant
from assistant.core import _printable as printable
from assistant.errors import DocumentError, QuestionError
from index.document import Document
from index.load import load_document

SCALE = max(1, int(os.environ.get("ASSISTANT_PROPERTY_SCALE", "1")))
COMMON = settings(
    deadline=None,
    database=None,  # no .hypothesis folder in the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

VOCABULARY = [
    "the", "harbour", "lighthouse", "was", "built", "in", "1871", "by", "engineer", "Marta",
    "Olsen", "police", "injured", "over", "100", "40,000", "crowns", "council", "said",
    "reports", "allegedly", "not", "never", "Kellby", "riots", "protesters", "who", "when",
    "how", "many", "why", "did", "according", "to", "sources", "1990", "3.5%", "U.S.",
    "e.g.", "Dr.", "“quoted”", '"straight"', "'single'", "(aside)", "—", "–", "…", "[1]",
    "[^2]", "[12]", "<b>bold</b>", "&amp;", "#", "*", "-", "1.", "café", "naïve", "Zürich",
    "Москва", "東京", "عربي", "🙂", "\u200b", "\u00ad", "ﬁ", "\u0301e", "\t",
]  # fmt: skip

#: Any character at all, including controls, format characters and unpaired surrogates.
ANY_CHAR = st.one_of(
    st.characters(codec="utf-8"),
    st.characters(min_codepoint=0, max_codepoint=0x1F),
    st.sampled_from(["\ud800", "\udfff", "\u202e", "\ufeff", "\uffff", "\x85", "\u2028"]),
)
WORD = st.one_of(st.sampled_from(VOCABULARY), st.text(ANY_CHAR, min_size=1, max_size=8))
SENTENCE = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(WORD, min_size=1, max_size=14),
    st.sampled_from([".", "?", "!", "", ".[3]", ":", "…", '."', ".”"]),
)
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=4).map(" ".join)
SEPARATOR = st.sampled_from(["\n\n", "\n", "\r\n\r\n", "\n\n\n", "\n \n", "\n\t\n"])


@st.composite
def document_files(draw: st.DrawFn) -> tuple[str, str]:
    """(file name, UTF-8 text) of a txt, Markdown or HTML document, plausible or not."""
    paragraphs = draw(st.lists(PARAGRAPH, min_size=0, max_size=7))
    title = draw(st.one_of(st.none(), st.lists(WORD, min_size=1, max_size=6).map(" ".join)))
    kind = draw(st.sampled_from(["txt", "md", "html"]))
    notes = draw(st.lists(SENTENCE, max_size=3))
    if kind == "html":
        body = "".join(f"<p>{html.escape(p) if draw(st.booleans()) else p}</p>" for p in paragraphs)
        head = f"<h1>{html.escape(title)}</h1>" if title else ""
        foot = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        extra = draw(st.sampled_from(["", "<script>x()</script>", "<style>p{}</style>"]))
        text = f"<html><body>{extra}{head}{body}<h2>Notes</h2><ol>{foot}</ol></body></html>"
    else:
        sep = draw(SEPARATOR)
        head = ("# " if kind == "md" else "") + title + sep if title else ""
        foot = (sep + "Notes" + sep + "\n".join(f"{i}. {n}" for i, n in enumerate(notes, 1))) * (
            bool(notes)
        )
        text = head + sep.join(paragraphs) + foot
    return f"doc.{kind}", draw(st.sampled_from(["", "\ufeff"])) + text


def write_utf8(path: Path, text: str) -> Path:
    """UTF-8 bytes of ``text``; unpaired surrogates cannot be encoded and become U+FFFD."""
    path.write_bytes(text.encode("utf-8", "replace"))
    return path


def check_document(doc: Document) -> None:
    text = doc.text
    for s in doc.sentences:
        assert 0 <= s.start <= s.end <= len(text)
        assert text[s.start : s.end] == s.text
    for b in doc.blocks:
        assert 0 <= b.start <= b.end <= len(text)
        assert text[b.start : b.end] == b.text


#: The loader's refusals, by what makes a file no text document.
REFUSALS = ("document is empty", "looks binary", "no readable text", "no visible text", "UTF-8")


def check_refusal(exc: Exception, text: str) -> None:
    """A document may be refused only with a ``DocumentError`` naming a documented reason,
    and an empty-document refusal only for a file with nothing but whitespace: anything
    else (an index or backend error, a new message) is a bug the property test must show."""
    assert isinstance(exc, DocumentError), repr(exc)
    assert any(reason in str(exc) for reason in REFUSALS), str(exc)
    if "document is empty" in str(exc):
        assert not text.removeprefix("\ufeff").strip(), repr(text[:80])


def check_question_refusal(exc: Exception, question: str) -> None:
    """Only a question with nothing in it is refused (these are all short): nothing but
    whitespace, terminal escapes and control characters."""
    assert isinstance(exc, QuestionError), repr(exc)
    assert not printable(question).split(), repr(question)


def check_answer(answer: Answer, text: str) -> None:
    """The answer's invariants: verbatim quotes in range, claims pointing at real quotes."""
    assert answer.status in {"answered", "not_in_document"}
    for q in [*answer.quotes, *answer.closest]:
        assert 0 <= q.start <= q.end <= len(text), (q.start, q.end, len(text))
        assert text[q.start : q.end] == q.text
    for c in answer.claims:
        assert all(0 <= i < len(answer.quotes) for i in c.quotes)
        if c.supported:
            assert c.quotes
    assert answer.status == "answered" or not answer.quotes


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property")


@settings(COMMON, max_examples=150 * SCALE)
@given(document_files())
def test_loaded_documents_keep_every_span_verbatim(folder: Path, file: tuple[str, str]) -> None:
    name, text = file
    try:
        doc = load_document(write_utf8(folder / name, text))
    except Exception as exc:
        check_refusal(exc, text)
        event(f"refused: {type(exc).__name__}")
        return
    check_document(doc)


QUESTION = st.one_of(
    st.text(ANY_CHAR, max_size=60),
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=10).map(" ".join),
    SENTENCE,
)
HISTORY = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system"]), "content": QUESTION}
    ),
    max_size=3,
)


@settings(COMMON, max_examples=20 * SCALE)
@given(file=document_files(), questions=st.lists(QUESTION, min_size=1, max_size=3))
def test_assistant_on_generated_documents(
    folder: Path, bot: Assistant, file: tuple[str, str], questions: list[str]
) -> None:
    name, text = file
    path = write_utf8(folder / name, text)
    try:
        b = Assistant(path, backend="extractive", cache_dir=folder / "cache")
    except Exception as exc:
        check_refusal(exc, text)
        event(f"document refused: {type(exc).__name__}")
        return
    for question in questions:
        # the document's own words make answers (not just abstentions) likely
        for q in (question, b.document.sentences[0].text[:80]):
            try:
                answer = b.ask(q)
            except Exception as exc:
                check_question_refusal(exc, q)
                event(f"question refused: {type(exc).__name__}")
                continue
            event(answer.status)
            check_answer(answer, b.document.text)


@settings(COMMON, max_examples=120 * SCALE)
@given(question=QUESTION, history=HISTORY)
def test_any_question_about_the_article(bot: Assistant, question: str, history: list) -> None:
    try:
        answer = bot.ask(question, history=history)
    except Exception as exc:
        check_question_refusal(exc, question)
        event(f"refused: {type(exc).__name__}")
        return
    event(answer.status)
    check_answer(answer, bot.document.text)
