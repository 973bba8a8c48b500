"""The plain-text parser on the real article: blocks, sentences, footnotes, exact offsets."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from index.document import FOOTNOTE_NOT_INCLUDED, SECTIONS, Document
from index.load import load_document

pytestmark = pytest.mark.fast

SHARED_COPY = Path("/work/shared/documents/kazakhstan-colour-revolution-riots.txt")

TITLE = "Kazakhstan: “Colour Revolution” Riots Explode"
CAPTION = (
    "Above: The Mayor’s Office Building in Almaty was torched by rioters in early January. "
    "http://www.thetexaschronicle.com"
)
COMMENT = (
    "excellent analysis and conclusion…this is inspirational stuff and i am pleased to endorse "
    "it and share it as widely as possible as a correct marxist appraisal of the situation in "
    "Kazakhstan and internationally"
)

#: (kind, exact text or (first words, last words), number of sentences) in document order.
EXPECTED_BLOCKS: list[tuple[str, str | tuple[str, str], int]] = [
    ("title", TITLE, 1),
    ("alt", "almaty mayor office", 1),
    ("caption", CAPTION, 1),
    ("dateline", "08-01-2022", 1),
    ("paragraph", ("Never believe anything until", "and his Open Society Foundation (OSF)."), 7),
    ("heading", "Foreign funded “NGOs”", 1),
    (
        "paragraph",
        ("There is zero that is progressive", "placing the figure higher, at 22 000."),
        6,
    ),
    ("paragraph", ("The Soros funded OSF is not the only one", "telegraphing its punches!"), 5),
    ("heading", "Riots disguised as “protests”", 1),
    (
        "paragraph",
        ("The notion that the rabid and frenzied", "political aims, i.e., terrorism."),
        9,
    ),
    ("paragraph", ("Innocent civilians – who do not", "military bases, mines and refineries."), 7),
    ("paragraph", ("While genuine revolutionists offer", "nationalised and planned economies."), 6),
    ("comments_heading", "4 thoughts on “Kazakhstan: “Colour Revolution” Riots Explode", 1),
    ("comment", COMMENT, 1),
]

#: footnote -> (how its sentence begins, the marker in its exact surroundings).
FOOTNOTE_SITES: dict[int, tuple[str, str]] = {
    1: ("“There are some crazy Russian claims", "disinformation playbook”.[1]"),
    2: ("Given the US disinformation playbook", "without a shred of evidence[2] – that"),
    3: ("According to the Kazakh Minister", "flowing in from the USA.[3]"),
    4: ("There are some estimates", "throughout the country[4], with some placing"),
    5: ("There are some reports that NEXTA", "against Belarus,[5] is heavily involved."),
    6: ("While the US White House claims", "almost a month ago.[6]"),
    7: ("The government then announced a 180-day", "gasoline and utilities.[7]"),
    8: ("Some of them stole police cars", "even ambulances,[8] where they"),
    9: ("Government buildings were stormed", "with over 100 police injured.[9]"),
    10: ("Rioters beat up some 500 civilians", "hundreds of businesses.[10]"),
    11: ("Kazakh President Kassem-Jomart Tokayev", "security threat to citizens”.[11]"),
    12: ("President Tokayev is also justified", "terrorist gangs”[12] for the wave"),
}
#: Markers that end their sentence (the rest sit mid-sentence).
SENTENCE_FINAL = {1, 3, 6, 7, 9, 10, 11}


@pytest.fixture(scope="module")
def raw(document_path: Path) -> bytes:
    return document_path.read_bytes()


# -- reading ------------------------------------------------------------------------------------


def test_text_is_the_file_decoded_byte_for_byte(document: Document, raw: bytes) -> None:
    assert document.text == raw.decode("utf-8")
    assert document.text.encode("utf-8") == raw
    assert len(document.text) == 6782
    assert document.format == "text"


def test_typography_survives(document: Document) -> None:
    text = document.text
    assert "capitulation to the\u00a0 fake Covid" in text  # no-break space, then a space
    assert text.count("\u00a0") == 1
    assert "“Colour Revolution”" in text and "Mayor’s" in text and "this…[this is]" in text
    assert "–" in text and "\r" not in text
    for sentence in document.sentences:
        if "fake Covid" in sentence.text:
            assert "\u00a0" in sentence.text
            break
    else:
        pytest.fail("the 'fake Covid' sentence is missing")


@pytest.mark.skipif(not SHARED_COPY.exists(), reason="shared copy of the article not present")
def test_packaged_article_is_the_shared_copy(raw: bytes) -> None:
    assert raw == SHARED_COPY.read_bytes()


# -- blocks -------------------------------------------------------------------------------------


def test_blocks_kinds_and_texts(document: Document) -> None:
    kinds = [b.kind for b in document.blocks]
    assert kinds == [kind for kind, _, _ in EXPECTED_BLOCKS]
    lines = [line for line in document.text.split("\n") if line.strip()]
    for block, (kind, expected, _) in zip(document.blocks, EXPECTED_BLOCKS, strict=True):
        if isinstance(expected, str):
            assert block.text == expected, kind
        else:
            first, last = expected
            assert block.text.startswith(first) and block.text.endswith(last), kind
            # a paragraph is its whole line of the file (the first one minus its dateline)
            assert block.text in lines or f"08-01-2022: {block.text}" in lines
    assert document.title == TITLE


def test_block_offsets_are_exact_and_in_order(document: Document) -> None:
    text = document.text
    cursor = 0
    for i, block in enumerate(document.blocks):
        assert block.index == i
        assert text[block.start : block.end] == block.text
        assert block.start == text.index(block.text, cursor)  # the next occurrence, in order
        assert block.text == block.text.strip()
        cursor = block.end
    # the dateline is split off its paragraph at "08-01-2022: "
    dateline, first_paragraph = document.blocks[3], document.blocks[4]
    assert text[dateline.end : first_paragraph.start] == ": "
    # the comment's list marker "  1. " is not part of the comment
    assert text[document.blocks[-1].start - 5 : document.blocks[-1].start] == "  1. "


def test_every_block_kind_is_found_and_sections_are_valid(document: Document) -> None:
    kinds = {b.kind for b in document.blocks}
    assert kinds == {
        "title", "alt", "caption", "dateline", "heading", "paragraph", "comments_heading", "comment"
    }  # fmt: skip
    # every section but a source list's entries, which the article does not include
    assert {s.section for s in document.sentences} == set(SECTIONS) - {"note"}
    for block in document.blocks:
        assert block.section == ("body" if block.kind == "paragraph" else block.kind)


# -- sentences ----------------------------------------------------------------------------------


def test_sentence_offsets_are_exact(document: Document) -> None:
    document.check()
    assert len(document.sentences) == 48
    for i, s in enumerate(document.sentences):
        assert s.index == i
        assert document.text[s.start : s.end] == s.text
        assert s.text == s.text.strip() and s.text
        block = document.blocks[s.block_index]
        assert block.start <= s.start < s.end <= block.end
        assert s.section == block.section
    assert len({s.id for s in document.sentences}) == 48


def test_sentences_tile_their_blocks(document: Document) -> None:
    by_block: dict[int, list] = {}
    for s in document.sentences:
        by_block.setdefault(s.block_index, []).append(s)
    for block, (kind, _, count) in zip(document.blocks, EXPECTED_BLOCKS, strict=True):
        sentences = by_block[block.index]
        assert len(sentences) == count, (kind, [s.text[:30] for s in sentences])
        assert sentences[0].start == block.start and sentences[-1].end == block.end
        for a, b in itertools.pairwise(sentences):
            assert document.text[a.end : b.start] == " "
        assert " ".join(s.text for s in sentences) == block.text


@pytest.mark.parametrize(
    "sentence",
    [
        "Never believe anything until it is officially denied, so goes the axiom.",
        "“There are some crazy Russian claims about the US being behind this…[this is] absolutely "
        "false, and clearly part of the standard Russian disinformation playbook”.[1]",
        "While the US White House claims “Who…us?” in relation to the New Year violence, Twitter "
        "posts show that the US Embassy was already warning about mass “protests” in Kazakhstan "
        "on December 16, 2021 – almost a month ago.[6]",
        "Talk about the US state department telegraphing its punches!",
        "Yet when “protestors” violently attack police before much else gets underway, it is a "
        "dead giveaway that it is organised bloodthirsty chaos with political aims, i.e., "
        "terrorism.",
        "Rioters beat up some 500 civilians and ransacked hundreds of businesses.[10]",
        "The OSF has been operating in Kazakhstan since 1995 and has been funded to the tune of "
        "more than $100 million over 25 years.",
        COMMENT,
    ],
)
def test_tricky_sentence_boundaries(document: Document, sentence: str) -> None:
    """Ellipses inside quotes, "i.e.," and markers after closing quotes do not split."""
    assert sentence in [s.text for s in document.sentences]


# -- footnotes ----------------------------------------------------------------------------------


def test_all_twelve_markers_are_in_the_text_once(document: Document) -> None:
    numbers = [int(m.group(1)) for m in re.finditer(r"\[(\d+)\]", document.text)]
    assert numbers == list(range(1, 13))


@pytest.mark.parametrize("number", sorted(FOOTNOTE_SITES))
def test_footnote_attributed_to_its_sentence(document: Document, number: int) -> None:
    opening, site = FOOTNOTE_SITES[number]
    citing = [s for s in document.sentences if number in s.footnotes]
    assert len(citing) == 1, f"[{number}] cited by {len(citing)} sentences"
    sentence = citing[0]
    assert sentence.footnotes == (number,)
    assert sentence.text.startswith(opening)
    assert site in sentence.text
    marker = document.text.index(f"[{number}]")
    assert sentence.start < marker < sentence.end
    assert sentence.text.endswith(f"[{number}]") == (number in SENTENCE_FINAL)


def test_only_the_twelve_citing_sentences_carry_footnotes(document: Document) -> None:
    cited = [s for s in document.sentences if s.footnotes]
    assert [s.footnotes for s in cited] == [(n,) for n in range(1, 13)]
    psaki = next(s for s in cited if s.footnotes == (1,))
    assert "[this is]" in psaki.text  # an editorial bracket, not a footnote


def test_no_footnote_list_so_every_source_is_not_included(document: Document) -> None:
    assert document.has_footnote_list is False
    assert sorted(document.footnotes) == list(range(1, 13))
    for number, note in document.footnotes.items():
        assert note.number == number
        assert note.text is None and note.start is None and note.end is None
        assert note.status == FOOTNOTE_NOT_INCLUDED == "cited, source text not included"
    assert document.footnote(13).status == FOOTNOTE_NOT_INCLUDED


def test_parsing_is_deterministic(document: Document, document_path: Path) -> None:
    again = load_document(document_path)
    assert again.id == document.id
    assert [(s.id, s.start, s.end) for s in again.sentences] == [
        (s.id, s.start, s.end) for s in document.sentences
    ]
