"""Typed document model: exact text plus blocks and sentences that point into it by offset.

Everything downstream (retrieval, quoting, verification) trusts these offsets, so the
invariant ``document.text[x.start:x.end] == x.text`` holds for every block and sentence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

#: Block kinds the parsers produce.  ``section`` (used in quotes) is the same word except
#: that a paragraph's section is called ``body``.
BLOCK_KINDS = (
    "title",
    "alt",
    "caption",
    "dateline",
    "heading",
    "paragraph",
    "comments_heading",
    "comment",
    "note",
)

#: ``note`` is one entry of the document's own source list ("3. Flood risk assessment by
#: ..."): indexed and quotable like prose, but the document's sourcing, not its assertions.
SECTIONS = (
    "title",
    "alt",
    "caption",
    "dateline",
    "heading",
    "body",
    "comments_heading",
    "comment",
    "note",
)

FOOTNOTE_NOT_INCLUDED = "cited, source text not included"


def content_id(*parts: object, length: int = 12) -> str:
    """Stable id from content: the same input always gives the same id across runs."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return digest[:length]


def document_id(text: str) -> str:
    """A document's id: the hash of its exact text, so renaming a file keeps it and any
    edit changes it."""
    return content_id(text, length=16)


@dataclass(frozen=True)
class Block:
    """A structural unit of the document (title, paragraph, comment...)."""

    index: int
    kind: str
    start: int
    end: int
    text: str

    @property
    def section(self) -> str:
        return "body" if self.kind == "paragraph" else self.kind


@dataclass(frozen=True)
class Sentence:
    """One sentence with its offsets, its block, and the footnote numbers it cites.

    ``id`` hashes the document's content id with the sentence's offset and text, so it is
    unique across a corpus; ``document_id`` says which document's text the offsets index."""

    id: str
    index: int
    block_index: int
    section: str
    start: int
    end: int
    text: str
    footnotes: tuple[int, ...] = ()
    document_id: str = ""


# Retrieval works on sentences; ``Passage`` is the name the rest of the pipeline uses.
Passage = Sentence


@dataclass(frozen=True)
class Footnote:
    """A footnote number as the document knows it; ``text`` is None when no list is given."""

    number: int
    text: str | None
    start: int | None = None
    end: int | None = None

    @property
    def status(self) -> str:
        return FOOTNOTE_NOT_INCLUDED if self.text is None else "cited, source text included"


@dataclass
class Document:
    """A parsed document.  ``text`` is exactly what offsets index into."""

    text: str
    blocks: list[Block]
    sentences: list[Sentence]
    footnotes: dict[int, Footnote] = field(default_factory=dict)
    has_footnote_list: bool = False
    path: Path | None = None
    format: str = "text"

    @cached_property
    def id(self) -> str:
        return document_id(self.text)

    @property
    def title(self) -> str:
        for block in self.blocks:
            if block.kind == "title":
                return block.text
        return self.path.stem if self.path else "document"

    def sentence_at(self, start: int, end: int) -> list[Sentence]:
        """Sentences overlapping the span [start, end)."""
        return [s for s in self.sentences if s.start < end and start < s.end]

    def block(self, index: int) -> Block:
        return self.blocks[index]

    def footnote(self, number: int) -> Footnote:
        return self.footnotes.get(number, Footnote(number, None))

    def note_at(self, offset: int) -> Footnote | None:
        """The source-list entry whose text contains ``offset``, if any."""
        for note in self.footnotes.values():
            if note.start is not None and note.end is not None and note.start <= offset < note.end:
                return note
        return None

    def entries(self, numbers: set[int]) -> list[Sentence]:
        """The source-list sentences of these note numbers, in document order."""
        return [
            s
            for s in self.sentences
            if s.section == "note"
            and (note := self.note_at(s.start)) is not None
            and note.number in numbers
        ]

    def check(self) -> None:
        """Assert the offset invariant; cheap, and run once after parsing."""
        for item in [*self.blocks, *self.sentences]:
            if self.text[item.start : item.end] != item.text:
                raise AssertionError(f"offset mismatch at {item.start}:{item.end}")
