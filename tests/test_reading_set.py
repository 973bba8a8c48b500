"""The reading set is sound: every gold span verbatim in its document as the assistant
loads it, every unanswerable question tagged and made from an answerable one, classes
balanced, no question twice, no sealed document's text in train or dev, and the sizes the
reader needs.  Problems in sealed documents are reported by file, id and code only."""

from __future__ import annotations

import pytest

from assistant.eval.reading import ROOT, load_set, summary, validate

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def reading_set():
    return load_set(ROOT, ("train", "dev", "test"))


def test_the_reading_set_validates(reading_set) -> None:
    assert validate(reading_set) == []


def test_splits_are_by_document_and_sized(reading_set) -> None:
    counts = summary(reading_set)
    assert counts["test"]["documents"] >= 15
    assert counts["dev"]["documents"] >= 10
    slugs = [d.slug for d in reading_set]
    assert len(slugs) == len(set(slugs))  # a document belongs to one split only


def test_the_validator_catches_what_it_claims_to(reading_set, tmp_path) -> None:
    """A broken copy of one train document is reported: a span that is not verbatim, an
    untagged unanswerable question, a duplicate question, a sealed text copied to train."""
    import dataclasses

    train = next(d for d in reading_set if d.split == "train")
    sealed = next(d for d in reading_set if d.split == "test")
    questions = [dict(q) for q in train.questions]
    first = next(q for q in questions if q["answerable"])
    first["evidence"] = [first["evidence"][0] + " (not in the text)"]
    unanswerable = next(q for q in questions if not q["answerable"])
    unanswerable["tag"] = None
    questions.append(dict(questions[0], id=questions[0]["id"] + "-copy"))
    broken = dataclasses.replace(train, questions=questions)
    copied = dataclasses.replace(train, slug="copy", path=sealed.path, questions=[], claims=[])
    problems = "\n".join(validate([broken, sealed, copied], totals=False))
    assert "evidence_not_verbatim" in problems
    assert "unanswerable_tag_missing_or_unknown" in problems
    assert "duplicate_question" in problems
    assert "sealed_text_in_train" in problems


def test_the_contract_scores_answers_as_documented() -> None:
    """Answerable: answered with a quote overlapping the gold evidence; unanswerable:
    not_in_document.  (The evaluation's judge, on hand-made answers.)"""
    from assistant.eval.reading_eval import correct
    from assistant.types import Answer, Quote

    text = "The council voted 7 to 2. Councillor Lund chaired the meeting."
    gold = {"answerable": True, "evidence": ["Councillor Lund chaired the meeting."]}
    lund = Quote("Councillor Lund chaired", 26, 49, "body")
    vote = Quote("The council voted 7 to 2.", 0, 25, "body")
    answered = Answer("q", "answered", "", [lund], [], "x")
    assert correct(gold, answered, text)
    assert not correct(gold, Answer("q", "answered", "", [vote], [], "x"), text)
    abstained = Answer("q", "not_in_document", "", [], [], "x")
    assert not correct(gold, abstained, text)
    assert correct({"answerable": False, "tag": "swapped_entity"}, abstained, text)
    assert not correct({"answerable": False, "tag": "swapped_entity"}, answered, text)
