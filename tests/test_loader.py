"""Markdown and HTML articles, unreadable files, and an assistant on a custom document."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.core import Assistant
from assistant.errors import AssistantError, DocumentError
from index.document import Document
from index.load import load_document, parse_markdown

pytestmark = pytest.mark.fast

MARKDOWN_FOOTNOTES = """\
# Floods in Riverton

The river rose four metres overnight.[^1] Around 300 homes were flooded in the lower town.[^2]

## Emergency shelters

The council opened two shelters at the school and the library.[^1] Volunteers handed out \
1,200 sandbags.

- Roads closed: 12
- Schools closed: 3

[^1]: Riverton Council statement, 3 March.
[^2]: Regional Water Board report.
"""

MARKDOWN_REFERENCES = """\
# Harbour Report

Fishing boats returned early because of the storm.[1] The harbour master closed the port \
at noon.[2]

## References

1. Harbour Authority bulletin
2. Coastguard log, 4 May
"""

HTML = """\
<!doctype html>
<html><head><title>Not the headline</title><script>var hidden = "script text";</script>
<style>p { color: red }</style></head>
<body><nav>Home | About</nav>
<article>
<h1>Bridge Closure</h1>
<figure><img src="bridge.jpg" alt="the old bridge">
<figcaption>Photo: The old bridge at dawn.</figcaption></figure>
<p>The old bridge closed on Monday after engineers found cracks.[1] Repairs will take six
weeks.[2]</p>
<h2>Detour</h2>
<p>Drivers must use the northern ring road.</p>
<h2>Notes</h2>
<ol><li>City engineering department notice.</li><li>Mayor's press conference.</li></ol>
</article></body></html>
"""


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _blocks(doc: Document) -> list[tuple[str, str]]:
    return [(b.kind, b.text) for b in doc.blocks]


def _assert_offsets(doc: Document) -> None:
    for item in [*doc.blocks, *doc.sentences]:
        assert doc.text[item.start : item.end] == item.text
    for note in doc.footnotes.values():
        if note.start is not None:
            assert doc.text[note.start : note.end] == note.text


# -- Markdown -----------------------------------------------------------------------------------


def test_markdown_with_footnote_definitions(tmp_path: Path) -> None:
    path = _write(tmp_path, "floods.md", MARKDOWN_FOOTNOTES)
    doc = load_document(path)
    assert doc.format == "markdown" and doc.path == path
    assert doc.text == MARKDOWN_FOOTNOTES  # offsets index the file itself
    assert _blocks(doc) == [
        ("title", "Floods in Riverton"),
        (
            "paragraph",
            "The river rose four metres overnight.[^1] Around 300 homes were flooded in the "
            "lower town.[^2]",
        ),
        ("heading", "Emergency shelters"),
        (
            "paragraph",
            "The council opened two shelters at the school and the library.[^1] Volunteers "
            "handed out 1,200 sandbags.",
        ),
        ("paragraph", "Roads closed: 12"),
        ("paragraph", "Schools closed: 3"),
        ("note", "Riverton Council statement, 3 March."),
        ("note", "Regional Water Board report."),
    ]
    assert [(s.text, s.footnotes) for s in doc.sentences if s.section == "body"] == [
        ("The river rose four metres overnight.[^1]", (1,)),
        ("Around 300 homes were flooded in the lower town.[^2]", (2,)),
        ("The council opened two shelters at the school and the library.[^1]", (1,)),
        ("Volunteers handed out 1,200 sandbags.", ()),
        ("Roads closed: 12", ()),
        ("Schools closed: 3", ()),
    ]
    assert doc.has_footnote_list is True
    assert {n: f.text for n, f in doc.footnotes.items()} == {
        1: "Riverton Council statement, 3 March.",
        2: "Regional Water Board report.",
    }
    assert {f.status for f in doc.footnotes.values()} == {"cited, source text included"}
    # the definitions are the source list: quotable, but not the article's body
    assert [s.section for s in doc.sentences if "Water Board" in s.text] == ["note"]
    assert doc.note_at(doc.blocks[-1].start) == doc.footnotes[2]
    _assert_offsets(doc)


def test_markdown_with_references_section(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, "harbour.markdown", MARKDOWN_REFERENCES))
    assert doc.format == "markdown"
    assert _blocks(doc) == [
        ("title", "Harbour Report"),
        (
            "paragraph",
            "Fishing boats returned early because of the storm.[1] The harbour master closed "
            "the port at noon.[2]",
        ),
        ("heading", "References"),
        ("note", "Harbour Authority bulletin"),
        ("note", "Coastguard log, 4 May"),
    ]
    assert [s.footnotes for s in doc.sentences if s.section == "body"] == [(1,), (2,)]
    assert {n: f.text for n, f in doc.footnotes.items()} == {
        1: "Harbour Authority bulletin",
        2: "Coastguard log, 4 May",
    }
    assert [s.section for s in doc.sentences if "Coastguard" in s.text] == ["note"]
    _assert_offsets(doc)


def test_markdown_marker_without_definition_is_not_included(tmp_path: Path) -> None:
    text = "# Note\n\nThe dam held.[^1] The levee broke.[^7]\n\n[^1]: Engineer's log.\n"
    doc = load_document(_write(tmp_path, "dam.md", text))
    assert doc.footnote(1).text == "Engineer's log."
    assert doc.footnote(7).text is None
    assert doc.footnotes[7].status == "cited, source text not included"


# -- HTML ---------------------------------------------------------------------------------------


def test_html_article(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, "bridge.html", HTML))
    assert doc.format == "html"
    assert _blocks(doc) == [
        ("title", "Bridge Closure"),
        ("alt", "the old bridge"),
        ("caption", "Photo: The old bridge at dawn."),
        (
            "paragraph",
            "The old bridge closed on Monday after engineers found cracks.[1] Repairs will take "
            "six weeks.[2]",
        ),
        ("heading", "Detour"),
        ("paragraph", "Drivers must use the northern ring road."),
        ("heading", "Notes"),
        ("note", "City engineering department notice."),
        ("note", "Mayor's press conference."),
    ]
    assert [(s.text, s.footnotes) for s in doc.sentences if s.section == "body"] == [
        ("The old bridge closed on Monday after engineers found cracks.[1]", (1,)),
        ("Repairs will take six weeks.[2]", (2,)),
        ("Drivers must use the northern ring road.", ()),
    ]
    assert {n: f.text for n, f in doc.footnotes.items()} == {
        1: "City engineering department notice.",
        2: "Mayor's press conference.",
    }
    assert doc.has_footnote_list is True
    for hidden in ("script text", "color: red", "Home | About", "Not the headline"):
        assert hidden not in doc.text
    _assert_offsets(doc)


def test_html_inline_markup_keeps_the_visible_text(tmp_path: Path) -> None:
    """A page reads "the ring road, adding", not "the ring road , adding": quotes taken from
    an HTML document must be what its reader sees."""
    html = (
        "<html><body><h1>Detours</h1><p>Drivers must use the <b>ring road</b>, adding ten "
        'minutes. See the <a href="/map">city map</a>.</p></body></html>'
    )
    doc = load_document(_write(tmp_path, "detours.htm", html))
    assert [b.text for b in doc.blocks if b.kind == "paragraph"] == [
        "Drivers must use the ring road, adding ten minutes. See the city map."
    ]


def test_html_line_break_separates_words(tmp_path: Path) -> None:
    """``<br>`` is rendered as a line break: the words on either side stay apart."""
    html = "<html><body><h1>Roads</h1><p>The road closed.<br>Drivers must detour.</p></body></html>"
    doc = load_document(_write(tmp_path, "roads.html", html))
    assert [s.text for s in doc.sentences if s.section == "body"] == [
        "The road closed.",
        "Drivers must detour.",
    ]


def test_html_without_headline_uses_the_page_title(tmp_path: Path) -> None:
    html = "<html><head><title>Quiet Day</title></head><body><p>Nothing happened.</p></body></html>"
    doc = load_document(_write(tmp_path, "quiet.html", html))
    assert _blocks(doc) == [("title", "Quiet Day"), ("paragraph", "Nothing happened.")]


# -- unreadable documents -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "document is empty"),
        ("blank.md", b"  \n\t\n   \n", "document is empty"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01", "looks binary"),
        ("nul.txt", b"plain text\x00with a NUL byte", "looks binary"),
        ("controls.txt", b"\x01\x02\x03\x04\x05\x06\x07 abc", "looks binary"),
        ("latin.txt", b"\xff\xfe\xfa", "not valid UTF-8"),
        ("cp1252.txt", "Caf\u00e9 society.".encode("cp1252"), "not valid UTF-8"),
    ],
)
def test_unreadable_file_raises_document_error(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(DocumentError, match=message) as info:
        load_document(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, AssistantError)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.txt"
    with pytest.raises(DocumentError, match="not found") as info:
        load_document(path)
    assert str(path) in str(info.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="directory"):
        load_document(tmp_path)


def test_html_without_visible_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "blank.html", "<html><body><script>x()</script></body></html>")
    with pytest.raises(DocumentError, match=r"no visible text|no readable text"):
        load_document(path)


def test_assistant_refuses_a_bad_document_up_front(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.txt", b"\xff\xfe\xfa")
    with pytest.raises(DocumentError, match="UTF-8"):
        Assistant(document=path, backend="extractive")


# -- an assistant on a custom Markdown document -------------------------------------------------


@pytest.fixture(scope="module")
def md_bot(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root = tmp_path_factory.mktemp("md-bot")
    path = root / "floods.md"
    path.write_text(MARKDOWN_FOOTNOTES, encoding="utf-8")
    return Assistant(document=path, backend="extractive", cache_dir=root / "cache")


@pytest.mark.parametrize(
    ("question", "gold", "footnote_text"),
    [
        (
            "How many homes were flooded?",
            "Around 300 homes were flooded in the lower town.[^2]",
            "Regional Water Board report.",
        ),
        (
            "How many sandbags did volunteers hand out?",
            "Volunteers handed out 1,200 sandbags.",
            None,
        ),
    ],
)
def test_assistant_answers_from_a_markdown_document(
    md_bot: Assistant, question: str, gold: str, footnote_text: str | None
) -> None:
    answer = md_bot.ask(question)
    assert answer.status == "answered"
    assert answer.quotes
    doc = md_bot.document
    for q in answer.quotes:
        assert doc.text[q.start : q.end] == q.text
    assert gold in [q.text for q in answer.quotes]
    if footnote_text:
        assert footnote_text in answer.text  # the included source is shown with the answer


def test_assistant_on_markdown_abstains_on_outside_question(md_bot: Assistant) -> None:
    answer = md_bot.ask("What is the GDP of France?")
    assert answer.status == "not_in_document"
    assert answer.quotes == [] and answer.claims == []


def test_a_list_nested_in_a_list_item_is_read_once() -> None:
    """Found by the property test: the nested list's line was a second block with the
    same offsets, so two passages shared an id and the index refused them."""
    doc = parse_markdown("\n\nNotes\n\n1. * the.\n\n- a\n  - b\n- c\n")
    assert [b.text for b in doc.blocks] == ["Notes", "* the.", "a", "b", "c"]
    assert len({s.id for s in doc.sentences}) == len(doc.sentences)


def test_text_after_a_source_list_is_kept(tmp_path: Path) -> None:
    """An unnumbered reference and a comment section after "Sources" stay in the document
    (once, they vanished from the page and the index)."""
    text = (
        "Harbour works\n\nThe pier was rebuilt in 2020.[1] It cost more than planned.[2]\n\n"
        "Sources\n\n1. Port authority annual report, 2021.\n2. Audit office letter.\n\n"
        "Smith, J. Harbours of the north. 2019.\n\nComments\n\nA reader: I remember the pier.\n"
    )
    doc = load_document(_write(tmp_path, "harbour.txt", text))
    assert _blocks(doc)[2:] == [
        ("heading", "Sources"),
        ("note", "Port authority annual report, 2021."),
        ("note", "Audit office letter."),
        ("note", "Smith, J. Harbours of the north. 2019."),
        ("comments_heading", "Comments"),
        ("comment", "A reader: I remember the pier."),
    ]
    assert doc.note_at(doc.blocks[5].start) is None  # unnumbered: no footnote of its own
    assert sorted(doc.footnotes) == [1, 2]
    _assert_offsets(doc)


def test_markdown_source_list_keeps_unnumbered_entries(tmp_path: Path) -> None:
    text = (
        "# Harbour works\n\nThe pier was rebuilt in 2020.[1]\n\n## References\n\n"
        "1. Port authority annual report, 2021.\n- Smith, J. *Harbours of the north*, 2019.\n\n"
        "## Afterword\n\nThe author lives in Skerry.\n"
    )
    doc = load_document(_write(tmp_path, "harbour.md", text))
    assert _blocks(doc)[2:] == [
        ("heading", "References"),
        ("note", "Port authority annual report, 2021."),
        ("note", "Smith, J. *Harbours of the north*, 2019."),  # its bullet is not its text
        ("heading", "Afterword"),
        ("paragraph", "The author lives in Skerry."),
    ]
    _assert_offsets(doc)


def test_a_wrapped_markdown_footnote_is_one_entry(tmp_path: Path) -> None:
    """An indented line continues the footnote above it (once, it became an unnumbered
    entry of its own and the footnote lost its second half)."""
    text = (
        "# Bridge\n\nThe bridge opened in 1901.[^1] It was widened later.[^2]\n\n## Notes\n\n"
        "[^1]: Harbour Board minutes, 1901,\n    volume 3, page 12.\n[^2]: County survey, 1950.\n"
    )
    doc = load_document(_write(tmp_path, "bridge.md", text))
    assert _blocks(doc)[3:] == [
        ("note", "Harbour Board minutes, 1901,\n    volume 3, page 12."),
        ("note", "County survey, 1950."),
    ]
    assert " ".join(doc.footnote(1).text.split()) == (
        "Harbour Board minutes, 1901, volume 3, page 12."
    )
    assert doc.note_at(doc.blocks[3].end - 1).number == 1
    _assert_offsets(doc)
