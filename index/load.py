"""Load a file into a ``Document``: plain text, Markdown or HTML.

Plain text and Markdown keep the file's text exactly as read, so quote offsets index the
file itself.  HTML has no readable text of its own: its ``Document.text`` is the visible
text, one block per paragraph, and offsets index that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from index.document import Block, Document, Footnote, Sentence, content_id, document_id
from index.errors import DocumentError
from index.sentences import FOOTNOTE_MARKER, footnote_numbers, split_sentences
from index.settings import IndexSettings

_DATE = (
    r"(?:\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{4}-\d{2}-\d{2}|"
    r"(?:\d{1,2}\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
    r"(?:\s+\d{1,2})?,?\s+\d{4})"
)
# "08-01-2022: Never..." or "LONDON, 8 January 2022 — Never..."
_DATELINE = re.compile(r"^(?:[A-Z][A-Za-z .'-]{1,40},\s*)?" + _DATE + r"(?=\s*(?::|—|–|-)\s+\S)")
_CAPTION = re.compile(r"^(?:Above|Below|Left|Right|Top|Photo|Image|Pictured|Caption|Picture)\b:?")
_COMMENTS_HEADING = re.compile(
    r"^(?:\d+|one|two|three|four|five|no)\s+(?:thoughts?|comments?|responses?|replies|reactions?)"
    r"\s+(?:on|to)\b|^(?:leave a (?:reply|comment)|reader comments|\d+ comments?)\s*:?$",
    re.IGNORECASE,
)
#: A bare "Comments" / "Responses" line is ambiguous (it may head the author's own section);
#: in plain text it opens a comment section only in the last part of the document.
_BARE_COMMENTS_HEADING = re.compile(r"^(?:comments?|responses?|replies)\s*:?$", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*•])\s+")
_FOOTNOTE_HEADINGS = re.compile(
    r"^(?:#+\s*)?(?:notes|footnotes|references|sources|endnotes|citations)\s*:?\s*$", re.I
)
_FOOTNOTE_ITEM = re.compile(r"^\s*(?:\[\^?(\d{1,3})\]:?|(\d{1,3})[.)])\s+(.+)$")
_URL = re.compile(r"https?://\S+")


#: Bump when parsing changes what a document's blocks and sentences are: indexes (which
#: store passages by sentence) are keyed by it, so they are rebuilt, never misread.
PARSER_VERSION = 4


def read_text(path: Path, max_bytes: int | None = None) -> str:
    """Read a file as UTF-8, refusing what is not a text document."""
    max_bytes = max_bytes or IndexSettings().max_document_bytes
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DocumentError(f"document not found: {path}") from None
    except IsADirectoryError:
        raise DocumentError(f"document path is a directory, not a file: {path}") from None
    except OSError as exc:
        raise DocumentError(f"cannot read document {path}: {exc.strerror}") from None
    if len(raw) > max_bytes:
        raise DocumentError(f"document too large: {path} is {len(raw)} bytes (max {max_bytes})")
    if b"\x00" in raw[:8192]:
        raise DocumentError(f"document looks binary (NUL bytes): {path}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"document is not valid UTF-8: {path} (byte {exc.start}); save it as UTF-8 text"
        ) from None
    text = text.removeprefix("\ufeff")
    controls = sum(1 for c in text[:8192] if ord(c) < 32 and c not in "\n\r\t\f")
    if controls > 0.05 * min(len(text), 8192):
        raise DocumentError(f"document looks binary (control characters): {path}")
    if not text.strip():
        raise DocumentError(f"document is empty: {path}")
    return text


def load_document(path: str | Path, max_bytes: int | None = None) -> Document:
    """Parse a document file, choosing the parser by extension."""
    path = Path(path)
    text = read_text(path, max_bytes)
    suffix = path.suffix.lower()
    if suffix in {".md", ".markdown"}:
        doc = parse_markdown(text)
    elif suffix in {".html", ".htm", ".xhtml"}:
        doc = parse_html(text)
    else:
        doc = parse_text(text)
    doc.path = path
    if not doc.sentences:
        raise DocumentError(f"document has no readable text: {path}")
    doc.check()
    return doc


# --- plain text -------------------------------------------------------------------------


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Blocks separated by blank lines, as trimmed (start, end) spans."""
    spans = []
    for m in re.finditer(r"\S(?:.*\S)?(?:\n[ \t]*\S.*)*", text):
        s, e = m.start(), m.end()
        while e > s and text[e - 1].isspace():
            e -= 1
        spans.append((s, e))
    return spans


def _looks_like_heading(line: str) -> bool:
    line = line.strip()
    return (
        0 < len(line) <= 90
        and "\n" not in line
        and line[-1] not in ".!?,;:…"
        and not FOOTNOTE_MARKER.search(line)
        and len(line.split()) <= 12
    )


def parse_text(text: str) -> Document:
    """Heuristic structure for a plain-text article: title, photo, dateline, headings, comments."""
    spans = _paragraph_spans(text)
    kinds: list[tuple[str, int, int]] = []
    in_comments = False
    footnote_list: list[tuple[int, int]] = []
    in_footnotes = False
    for i, (s, e) in enumerate(spans):
        chunk = text[s:e]
        if in_footnotes and not (
            _COMMENTS_HEADING.match(chunk) or _BARE_COMMENTS_HEADING.match(chunk)
        ):
            footnote_list.append((s, e))
            # lines that are not numbered entries are unnumbered ones, kept and shown
            kinds.extend(("note", ls, le) for ls, le in _unnumbered_lines(text, s, e))
            continue
        in_footnotes = False  # a comment section ends the source list
        if _FOOTNOTE_HEADINGS.match(chunk):
            in_footnotes = True
            kinds.append(("heading", s, e))
            continue
        if _COMMENTS_HEADING.match(chunk) or (
            _BARE_COMMENTS_HEADING.match(chunk) and s > 0.6 * len(text)
        ):
            in_comments = True
            kinds.append(("comments_heading", s, e))
            continue
        if in_comments:
            m = _LIST_ITEM.match(chunk)
            kinds.append(("comment", s + (m.end() if m else 0), e))
            continue
        nxt = text[spans[i + 1][0] : spans[i + 1][1]] if i + 1 < len(spans) else ""
        if i == 0 and _looks_like_heading(chunk):
            kinds.append(("title", s, e))
        elif _CAPTION.match(chunk) and len(chunk) < 400:
            kinds.append(("caption", s, e))
        elif (
            _looks_like_heading(chunk)
            and _CAPTION.match(nxt)
            and kinds
            and kinds[-1][0] in {"title", "heading"}
        ):
            kinds.append(("alt", s, e))
        elif m := _DATELINE.match(chunk):
            kinds.append(("dateline", s, s + m.end()))
            rest = re.match(r"\s*(?::|—|–|-)\s+", chunk[m.end() :])
            body_start = s + m.end() + (rest.end() if rest else 0)
            kinds.append(("paragraph", body_start, e))
        elif _looks_like_heading(chunk):
            kinds.append(("heading", s, e))
        elif lines := _list_lines(text, s, e):
            kinds.extend(("paragraph", ls, le) for ls, le in lines)
        else:
            kinds.append(("paragraph", s, e))
    footnotes = _parse_footnote_items(text, footnote_list)
    return _assemble(text, kinds, footnotes, fmt="text")


_KEY_VALUE = re.compile(r"^[^:\n]{1,40}:\s+\S")


def _list_lines(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """A plain-text paragraph that is a list, one item per line ("- eggs", "1. Stir",
    "Revenue: 12 m", "a | b"), as one span per item (its marker left out); [] for prose.
    An opening line that is not an item ("Ingredients:") stays a span of its own."""
    lines = _line_spans(text, s, e)
    if len(lines) < 2:
        return []
    body = lines[1:] if not _is_item(text[lines[0][0] : lines[0][1]]) else lines
    if len(body) < 2 and body is not lines:
        return []
    if not all(_is_item(text[a:b]) for a, b in body):
        return []
    out = [] if body is lines else [lines[0]]
    for a, b in body:
        m = _LIST_ITEM.match(text[a:b])
        out.append((a + (m.end() if m else 0), b))
    return out


def _is_item(line: str) -> bool:
    return bool(_LIST_ITEM.match(line) or _KEY_VALUE.match(line) or " | " in line)


def _note_lines(text: str, start: int, end: int) -> list[tuple[int | None, int, int]]:
    """The entries of a source list in ``text[start:end]``: (number or None, start, end).
    An indented line continues the entry above it (a Markdown footnote's wrapped text)."""
    out: list[tuple[int | None, int, int]] = []
    offset = start
    for line in text[start:end].split("\n"):
        if line.strip():
            m = _FOOTNOTE_ITEM.match(line)
            if m:
                out.append((int(m.group(1) or m.group(2)), offset + m.start(3), offset + len(line)))
            elif out and line[:1] in (" ", "\t"):
                number, s, _ = out[-1]
                out[-1] = (number, s, offset + len(line))
            else:
                bullet = _LIST_ITEM.match(line)
                out.append((None, offset + (bullet.end() if bullet else 0), offset + len(line)))
        offset += len(line) + 1
    return out


def _unnumbered_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the entries in ``text[start:end]`` that are not numbered."""
    return [(s, e) for n, s, e in _note_lines(text, start, end) if n is None]


def _parse_footnote_items(text: str, spans: Iterable[tuple[int, int]]) -> dict[int, Footnote]:
    notes: dict[int, Footnote] = {}
    for start, end in spans:
        for number, s, e in _note_lines(text, start, end):
            if number is not None:
                e = s + len(text[s:e].rstrip())
                notes[number] = Footnote(number, text[s:e], s, e)
    return notes


def _assemble(
    text: str, kinds: list[tuple[str, int, int]], footnotes: dict[int, Footnote], fmt: str
) -> Document:
    blocks: list[Block] = []
    sentences: list[Sentence] = []
    doc_id = document_id(text)
    # each entry of the source list is a block of its own, so it can be retrieved and quoted
    notes = [("note", f.start, f.end) for f in footnotes.values() if f.start is not None]
    for kind, s, e in sorted([*kinds, *notes], key=lambda k: k[1]):  # type: ignore[arg-type]
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s >= e:
            continue
        block = Block(len(blocks), kind, s, e, text[s:e])
        blocks.append(block)
        # Titles, headings, captions and datelines are one unit each; prose is split.
        if kind in {"paragraph", "comment", "caption", "note"}:
            spans = split_sentences(text, s, e)
        else:
            spans = [(s, e)]
        for ss, se in spans:
            body = text[ss:se]
            sentences.append(
                Sentence(
                    id=content_id(doc_id, ss, body),
                    index=len(sentences),
                    block_index=block.index,
                    section=block.section,
                    start=ss,
                    end=se,
                    text=body,
                    footnotes=footnote_numbers(body),
                    document_id=doc_id,
                )
            )
    cited = {n for s in sentences for n in s.footnotes}
    all_notes = {n: footnotes.get(n, Footnote(n, None)) for n in sorted(cited | set(footnotes))}
    return Document(
        text=text,
        blocks=blocks,
        sentences=sentences,
        footnotes=all_notes,
        has_footnote_list=bool(footnotes),
        format=fmt,
    )


# --- Markdown ---------------------------------------------------------------------------


def parse_markdown(text: str) -> Document:
    """Markdown via markdown-it's block map; offsets keep pointing at the raw file."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(text)
    line_starts = [0]
    for m in re.finditer(r"\r\n?|\n", text):  # markdown-it's line breaks: a lone \r is one too
        line_starts.append(m.end())
    line_starts.append(len(text) + 1)

    def span(tok_map: list[int]) -> tuple[int, int]:
        a, b = tok_map
        return line_starts[a], min(line_starts[b] - 1, len(text))

    kinds: list[tuple[str, int, int]] = []
    footnote_spans: list[tuple[int, int]] = []
    in_footnotes = in_comments = False
    first_heading_seen = False
    list_end = -1
    for i, tok in enumerate(tokens):
        if tok.map is None or tok.nesting != 1:
            continue
        s, e = span(tok.map)
        raw = text[s:e]
        if tok.type == "heading_open":
            inline = tokens[i + 1].content
            hs = s + raw.index(inline) if inline in raw else s
            he = hs + len(inline)
            if _FOOTNOTE_HEADINGS.match(inline):
                in_footnotes = True
                kinds.append(("heading", hs, he))
            elif _COMMENTS_HEADING.match(inline) or _BARE_COMMENTS_HEADING.match(inline):
                kinds.append(("comments_heading", hs, he))
                in_comments = True
            else:
                in_footnotes = in_comments = False
                kind = "title" if tok.tag == "h1" and not first_heading_seen else "heading"
                kinds.append((kind, hs, he))
            first_heading_seen = True
        elif tok.type == "table_open":
            # One block per row (the header row too); the |---| line is layout.
            for line_s, line_e in _line_spans(text, s, e):
                row = text[line_s:line_e]
                if re.fullmatch(r"[\s|:-]+", row):
                    continue
                lead = len(row) - len(row.lstrip(" |"))
                trail = len(row) - len(row.rstrip(" |"))
                kinds.append(("paragraph", line_s + lead, line_e - trail))
        elif tok.type in {"paragraph_open", "bullet_list_open", "ordered_list_open"}:
            if tok.type == "paragraph_open" and tokens[i - 1].type == "list_item_open":
                continue  # list items are handled with their list
            if in_footnotes or re.match(r"^\[\^\d+\]:", raw):
                footnote_spans.append((s, e))
                continue
            body_kind = "comment" if in_comments else "paragraph"
            if tok.type == "paragraph_open":
                caption = _CAPTION.match(raw.lstrip("*_ ")) and len(raw) < 400
                kinds.append(("caption" if caption and not in_comments else body_kind, s, e))
            elif s >= list_end:  # (a list nested in an item is already in its lines)
                list_end = e
                for line_s, line_e in _line_spans(text, s, e):
                    m = _LIST_ITEM.match(text[line_s:line_e])
                    kinds.append((body_kind, line_s + (m.end() if m else 0), line_e))
    # Markdown footnote definitions "[^1]: text" may sit anywhere.
    for m in re.finditer(r"(?m)^\[\^(\d+)\]:[ \t]*(.+)$", text):
        if not any(s <= m.start() < e for s, e in footnote_spans):
            footnote_spans.append((m.start(), m.end()))
    footnotes = _parse_footnote_items(text, footnote_spans)
    kinds = [k for k in kinds if not any(s <= k[1] < e for s, e in footnote_spans)]
    for s, e in footnote_spans:  # unnumbered entries of a source list are kept too
        kinds.extend(("note", ls, le) for ls, le in _unnumbered_lines(text, s, e))
    return _assemble(text, kinds, footnotes, fmt="markdown")


def _line_spans(text: str, s: int, e: int) -> list[tuple[int, int]]:
    out, pos = [], s
    for line in text[s:e].split("\n"):
        if line.strip():
            out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


# --- HTML -------------------------------------------------------------------------------


def parse_html(html: str) -> Document:
    """Visible text of an HTML article, one block per heading / paragraph / list item."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav"]):
        tag.decompose()
    # Line breaks and block ends separate words; inline tags (<b>, <a>) must not.
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(["p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td"]):
        block.insert_after("\n")
    root = soup.find("article") or soup.find("main") or soup.body or soup
    pieces: list[tuple[str, str]] = []
    notes: list[str] = []
    in_notes = False
    title_done = False
    blocks = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "figcaption", "caption", "tr"]
    for el in root.find_all(blocks):
        if el.name in {"p", "li"} and el.find_parent(["li", "figcaption", "tr"]) is not None:
            continue
        if el.name == "tr":  # a table row is one block: its cells joined by " | "
            cells = (" ".join(c.get_text("").split()) for c in el.find_all(["td", "th"]))
            body = " | ".join(c for c in cells if c)
        else:
            body = " ".join(el.get_text("").split())  # inline tags add no spaces of their own
        if not body:
            continue
        classes = (
            " ".join(el.get("class", []))
            + " "
            + " ".join(
                " ".join(p.get("class", []))
                for p in el.find_parents(["ol", "ul", "section", "div"])
            )
        )
        if el.name.startswith("h"):
            in_notes = bool(_FOOTNOTE_HEADINGS.match(body))
            kind = "title" if el.name == "h1" and not title_done else "heading"
            if _COMMENTS_HEADING.match(body) or _BARE_COMMENTS_HEADING.match(body):
                kind = "comments_heading"
            title_done = True
            pieces.append((kind, body))
        elif in_notes or "footnote" in classes:
            notes.append(body)
        elif el.name in {"figcaption", "caption"}:
            pieces.append(("caption", body))
        else:
            pieces.append(("comment" if "comment" in classes else "paragraph", body))
    if not title_done and soup.title and soup.title.get_text(strip=True):
        pieces.insert(0, ("title", soup.title.get_text(strip=True)))
    for img in root.find_all("img", alt=True):
        if img["alt"].strip():
            pieces.insert(
                1 if pieces and pieces[0][0] == "title" else 0, ("alt", img["alt"].strip())
            )
            break
    text_parts: list[str] = []
    kinds: list[tuple[str, int, int]] = []
    pos = 0
    for kind, body in pieces:
        kinds.append((kind, pos, pos + len(body)))
        text_parts.append(body)
        pos += len(body) + 2
    note_spans = []
    for i, body in enumerate(notes, start=1):
        if not re.match(r"^\[?\^?\d+[\].):]?\s", body):
            body = f"{i}. {body}"
        note_spans.append((pos, pos + len(body)))
        text_parts.append(body)
        pos += len(body) + 2
    text = "\n\n".join(text_parts) + "\n"
    if not text.strip():
        raise DocumentError("HTML document has no visible text")
    footnotes = _parse_footnote_items(text, note_spans)
    return _assemble(text, kinds, footnotes, fmt="html")
