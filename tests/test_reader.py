"""The shipped reader: it loads offline from the package, scores its recorded check set as
recorded (so the model shipped is the one measured), and tells answering passages and
supporting evidence from the rest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from harness import HARBOUR, write

from assistant.claim_model import FEATURES, GUARD_FEATURES, ClaimModel
from assistant.core import Assistant
from assistant.reader import Reader, claim_pair, model_dir, passage_context, qa_pair
from assistant.verify import ClaimChecker
from index.document import Document
from index.settings import Settings

PRESET = Settings.preset


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader()


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads((model_dir() / "card.json").read_text(encoding="utf-8"))


def test_the_shipped_model_scores_its_check_set_as_recorded(reader: Reader, card: dict) -> None:
    pairs = [tuple(p) for p in card["check"]["pairs"]]
    got = reader.probabilities(pairs)
    assert np.allclose(got, card["check"]["probabilities"], atol=2e-3), got


def test_it_tells_answering_passages_from_the_rest(reader: Reader, card: dict) -> None:
    pairs = [tuple(x) for x in card["check"]["pairs"]]
    p = dict(enumerate(reader.probabilities(pairs)))
    assert p[0] > p[1] and p[2] > p[3]  # the passage that answers, over one that does not
    assert 0 < card["answer_threshold"] < 1
    assert (model_dir() / card["file"]).exists()


def test_the_claim_model_ships_with_guards_that_only_lower_support() -> None:
    model = ClaimModel.load(model_dir())
    assert len(model.weights) == len(FEATURES)
    assert all(w <= 0 for w in model.weights[:GUARD_FEATURES])
    assert 0 < model.threshold < 1


@pytest.mark.parametrize(
    "faithful, edited, evidence",
    [
        (
            "Marta Olsen built the harbour lighthouse in 1871.",
            "Marta Olsen built the harbour lighthouse in 1881.",
            "The harbour lighthouse at Kellby was built in 1871 by the engineer Marta Olsen.",
        ),
        (
            "The council approved the repairs.",
            "The council rejected the repairs.",
            "The council voted 7 to 2 to approve the repairs to the bridge.",
        ),
        (
            "Some residents objected to the plan.",
            "All residents objected to the plan.",
            "Some residents objected to the plan at the meeting.",
        ),
    ],
)
def test_the_claim_model_prefers_the_faithful_claim(faithful, edited, evidence) -> None:
    checker = ClaimChecker(model=ClaimModel.load(model_dir()))
    good = checker.check(faithful, [evidence])
    bad = checker.check(edited, [evidence])
    assert good.confidence is not None and bad.confidence is not None
    assert good.confidence > bad.confidence
    assert not bad.supported


def test_the_input_forms(document: Document) -> None:
    """Training and inference build pairs with the same functions: the candidate first
    (truncation cuts context, never the passage), then its heading and neighbours."""
    passage = next(s for s in document.sentences if "over 100 police" in s.text)
    first, second = qa_pair("How many police were injured?", passage, document)
    assert first == "question: How many police were injured?"
    assert second.startswith("Government buildings were stormed")
    assert "[9]" not in second.split(" || ")[0]  # footnote markers are not words
    assert second == passage_context(passage, document)
    claim = claim_pair("Over 100 police were injured.", ["with over 100 police injured.[9]"])
    assert claim == ("claim: Over 100 police were injured.", "with over 100 police injured.")


REPORT = """Council report: bridge repairs

Councillor Maria Lund chaired the meeting, which ran for three hours. The council voted 7 \
to 2 to fund the repairs to the Old Mill bridge, which has been closed since March.

The repairs will cost 240,000 pounds and are expected to take four months. Residents on \
Mill Lane will be offered a temporary footpath.
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("report") / "report.txt", REPORT)


@pytest.mark.model
def test_the_gate_stops_the_rules_answering_what_the_report_never_says(
    report: Path, tmp_path: Path
) -> None:
    """The issue's first example: the hand-written rules answer "Who won the election for
    mayor?" from a council report with its chair and its vote; the reader does not."""
    rules = Assistant(report, backend="extractive", cache_dir=tmp_path, settings=PRESET("rules"))
    assert rules.ask("Who won the election for mayor?").status == "answered"
    default = Assistant(report, backend="extractive", cache_dir=tmp_path)
    assert default.ask("Who won the election for mayor?").status == "not_in_document"
    cost = default.ask("How much will the repairs cost?")
    assert cost.status == "answered" and any("240,000 pounds" in q.text for q in cost.quotes)
    chair = default.ask("Who chaired the meeting?")
    assert chair.status == "answered" and any("Maria Lund" in q.text for q in chair.quotes)


@pytest.mark.model
def test_a_plain_question_on_a_three_sentence_report(tmp_path: Path) -> None:
    """Very short documents are shorter than any trained on: the reader's probabilities
    run low there (the model shipped before this one scored this answer 0.075, under its
    gate of 0.1, a strict xfail until the reader trained with synthetic negatives)."""
    path = write(tmp_path / "harbour.txt", HARBOUR)
    answer = Assistant(path, backend="extractive", cache_dir=tmp_path / "c").ask(
        "How many officers were injured?"
    )
    assert answer.status == "answered"
