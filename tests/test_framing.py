"""Framing follows the document: "The author writes" and source notes where the document
has an author's voice and a citation apparatus (the article); "The document says" and no
per-quote source notes where it has neither (a council report); reader comments are the
readers', with no source note; questions about sourcing are answered from the evidence
status of the sentences quoted."""

from __future__ import annotations

import re

import pytest
from fakes import model_free

from assistant import Assistant
from assistant.audit import asks_about_sourcing, evidence_of, profile
from assistant.page_html import header_html
from assistant.present import evidence_notes
from assistant.types import Quote

pytestmark = pytest.mark.fast

COUNCIL = """Harbour Council Meeting Report

Councillor Maria Lund chaired the meeting, which ran for three hours. The council voted 7 to 2 \
to fund the repairs to the north pier. Repairs will begin in May and cost 240,000 pounds.

Residents raised concerns about parking near the ferry terminal. The council agreed to review \
parking charges in the autumn.
"""


def _model_free_on(factory: pytest.TempPathFactory, name: str, text: str) -> Assistant:
    """An assistant with no model on ``text`` saved as ``name``, with its own cache."""
    folder = factory.mktemp(name.split(".")[0])
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return Assistant(path, settings=model_free(folder / "cache"))


@pytest.fixture(scope="module")
def council(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return _model_free_on(tmp_path_factory, "council.txt", COUNCIL)


@pytest.fixture(scope="module")
def article(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return Assistant(settings=model_free(tmp_path_factory.mktemp("article-cache")))


def test_a_report_without_voice_or_sources_is_framed_as_the_documents_own(council) -> None:
    shape = profile(council.document)
    assert not shape.voice and not shape.apparatus
    answer = council.ask("How much will the repairs cost?")
    assert answer.status == "answered"
    assert answer.text.startswith("The document says: “")
    for absent in ("The author writes", "gives no source", "The article"):
        assert absent not in answer.text


def test_the_article_keeps_its_author_and_its_source_notes(article) -> None:
    answer = article.ask("How many police officers were injured?")
    assert "The author writes: “" in answer.text
    assert "cites footnote 9" in answer.text


def test_a_reader_comment_has_no_source_note(article) -> None:
    document = article.document
    comment = next(s for s in document.sentences if s.section == "comment")
    quote = Quote(comment.text, comment.start, comment.end, "comment", comment.footnotes)
    notes = evidence_notes(quote, document, evidence_of(document).get(comment.id))
    assert notes == ["This is a reader's comment, not the author's view."]


def test_a_quotation_is_not_quoted_twice(article) -> None:
    answer = article.ask("What did Jen Psaki call the Russian claims?")
    assert "““" not in answer.text and "””" not in answer.text


def test_a_sourcing_question_says_what_each_quote_cites(article) -> None:
    question = "Is the claim that police were injured backed by a source?"
    assert asks_about_sourcing(question)
    answer = article.ask(question)
    assert answer.status == "answered"
    lead = answer.text.split("\n\n")[0]
    assert lead.startswith("Sources: ")
    for i, q in enumerate(answer.quotes, start=1):
        if q.footnotes:
            assert re.search(rf"\[{i}\] cites footnotes? {q.footnotes[0]}\b", lead)
        elif q.section == "body":
            assert f"[{i}]" in lead and "no footnote" in lead
    assert not asks_about_sourcing("When did the riots come back to Almaty?")


def test_a_sourcing_question_on_a_document_that_cites_nothing_says_so(council) -> None:
    answer = council.ask("Is the repair cost backed by a source?")
    assert "cites no sources at all" in answer.text


def test_the_header_promises_footnotes_only_where_there_are_some() -> None:
    assert "footnote" in header_html("T", "offline", footnotes=True)
    assert "footnote" not in header_html("T", "offline", footnotes=False)


def test_the_claims_map_counts_only_sentences_that_assert(council) -> None:
    from assistant.page_html import render_claims_map

    markup = render_claims_map(council.document, evidence_of(council.document))
    asserting = [s for s in council.document.sentences if s.section == "body"]
    assert f"<b>{len(asserting)}</b> sentences" in markup
    assert len(asserting) < len(council.document.sentences)  # the title is not counted
    assert "the document asserts it without a source" in markup
    assert "the author asserts" not in markup
    # no footnotes to count: the legend says why everything is uncited, not "cited: 0"
    assert "has no footnotes or source list" in markup
    assert 'data-status="cited"' not in markup


# -- a document's own source list ---------------------------------------------------------------

SOURCED = """# Westbrook flood defences

The new embankment was finished in April.[1] Its cost rose by a third during construction.[2]

## Notes

1. Westbrook Borough Council, completion notice, April 2024.
2. Hallam Water Consultants for the Environment Office, cost review, June 2024.
"""


@pytest.fixture(scope="module")
def sourced(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return _model_free_on(tmp_path_factory, "westbrook.md", SOURCED)


def test_a_question_only_the_source_list_answers_quotes_its_entry(sourced) -> None:
    answer = sourced.ask("Who carried out the cost review?")
    assert answer.status == "answered", answer.text
    entry = "Hallam Water Consultants for the Environment Office, cost review, June 2024."
    quote = next(q for q in answer.quotes if q.text == entry)
    assert quote.section == "note"
    assert sourced.document.text[quote.start : quote.end] == entry
    # framed as the document's sourcing, with which note it is, and supported as quoted
    noun = profile(sourced.document).noun
    assert f"The {noun}'s source list reads: “" in answer.text
    assert "note 2 of the" in answer.text
    assert all(c.supported for c in answer.claims if entry in c.quotes)


def test_a_footnote_question_quotes_the_entry_and_the_sentence_citing_it(sourced) -> None:
    answer = sourced.ask("What does footnote 2 say?")
    assert answer.status == "answered"
    texts = [q.text for q in answer.quotes]
    assert texts[0].startswith("Hallam Water Consultants")  # the entry first: it is the source
    assert any(t.startswith("Its cost rose by a third") for t in texts)


def test_the_page_shows_each_entry_once_numbered_and_clickable(sourced) -> None:
    from assistant.page_html import render_document

    markup = render_document(sourced.document, evidence_of(sourced.document))
    assert markup.count("Hallam Water Consultants") == 1
    assert markup.count('<ol class="b-footnotes">') == 1
    assert '<li value="2"><span class="seg"' in markup
    mapped = render_document(sourced.document, evidence_of(sourced.document), claims_map=True)
    assert "source list names the source" in mapped  # not "not in the document"
    assert "source text is not in the document" not in mapped


def test_a_sourcing_question_quotes_the_cited_sentence_and_its_entry(sourced) -> None:
    answer = sourced.ask("What does the article cite for its cost rising during construction?")
    assert answer.status == "answered"
    texts = [q.text for q in answer.quotes]
    assert texts[0].startswith("Its cost rose by a third")
    assert texts[-1].startswith("Hallam Water Consultants")
    assert [q.section for q in answer.quotes][-1] == "note"
    n = len(answer.quotes)
    # the sentence points to the entry the answer quotes instead of repeating it
    assert f"The {profile(sourced.document).noun} cites footnote 2, quoted as [{n}]." in answer.text
    assert answer.text.count("Hallam Water Consultants") == 1
    assert f"[{n}] is note 2 of the" in answer.text  # the sourcing lead names the entry
