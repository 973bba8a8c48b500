"""The reader's synthetic training negatives (``--augment``): each edit leaves its gold
passage unable to answer, so the label 0 it is trained with is right by construction."""

from __future__ import annotations

import random
import re

import pytest

from assistant.train_reader import _names_in, synthetic_edits

pytestmark = pytest.mark.fast

PASSAGE = (
    "In 2011 Brenmoor Marine sold its winch division to Pellam Air for 4,500 pounds. "
    "The first ferry left Easter Holm at dawn."
)
NAMES = ["Brenmoor Marine", "Pellam Air", "Easter Holm", "Saltings Park", "Carrick Haven"]


def _edits(question: str) -> dict[str, str]:
    return dict((tag, q) for q, tag in synthetic_edits(question, PASSAGE, NAMES, random.Random(1)))


def test_a_swapped_name_is_one_the_passage_never_mentions() -> None:
    edits = _edits("What did Brenmoor Marine sell to Pellam Air?")
    swapped = edits["swapped_entity"]
    assert "Brenmoor Marine" not in swapped
    new = next(n for n in NAMES if n in swapped and n != "Pellam Air")
    assert new not in PASSAGE


def test_reversed_roles_swap_the_two_names_the_passage_binds() -> None:
    edits = _edits("What did Brenmoor Marine sell to Pellam Air?")
    assert edits["reversed_relation"] == "What did Pellam Air sell to Brenmoor Marine?"
    # names joined by "and" are not in a relation that a swap reverses
    assert "reversed_relation" not in _edits("Who did Brenmoor Marine and Pellam Air sell?")


def test_an_antonym_is_one_the_passage_does_not_use() -> None:
    edits = _edits("When did the first ferry leave Easter Holm?")
    assert edits["antonym"] == "When did the last ferry leave Easter Holm?"
    assert not re.search(r"\blast\b", PASSAGE)


def test_a_changed_number_is_not_in_the_passage_and_codes_are_left_alone() -> None:
    edits = _edits("What happened at Brenmoor Marine in 2011?")
    changed = re.search(r"\d{4}", edits["changed_number"]).group(0)
    assert changed != "2011" and changed not in PASSAGE
    # a model name's digits are not a quantity
    assert "changed_number" not in _edits("What does the K9.9 weigh?")


def test_names_skip_the_first_word_articles_and_dates() -> None:
    assert _names_in("The ferry met The Harbour Trust on 11 January.") == ["Harbour Trust"]
