"""Edge cases found in review: ambiguous comment headings, all-fabricated answers,
concurrent index builds, and the CLI in a pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from assistant import Assistant
from assistant.types import Draft, DraftClaim
from index.corpus import Corpus
from index.embed import Embedder
from index.load import load_document
from index.settings import IndexSettings
from index.store import Index

ROOT = Path(__file__).resolve().parents[1]


def test_bare_comments_heading_early_is_the_authors_section(tmp_path: Path) -> None:
    body = "The council met on Monday and agreed the budget after a long debate. " * 3
    text = f"Budget news\n\n{body}\n\nComments\n\n{body}\n\n{body}\n\n{body}\n"
    doc = load_document(_write(tmp_path / "a.txt", text))
    kinds = [b.kind for b in doc.blocks]
    assert "comment" not in kinds and "comments_heading" not in kinds
    assert kinds.count("heading") == 1


def test_bare_comments_heading_at_the_end_opens_comments(tmp_path: Path) -> None:
    body = "The council met on Monday and agreed the budget after a long debate. " * 3
    text = f"Budget news\n\n{body}\n\n{body}\n\n{body}\n\nComments\n\nGreat piece, thanks.\n"
    doc = load_document(_write(tmp_path / "b.txt", text))
    assert [b.kind for b in doc.blocks][-2:] == ["comments_heading", "comment"]


def test_answer_whose_every_quote_is_invented_is_not_in_document(bot: Assistant) -> None:
    draft = Draft(
        "answered",
        [DraftClaim("The author says 300 people died.", ["300 people died in Almaty"])],
        backend="scripted",
    )
    answer = bot.verify(draft, "How many people died?")
    assert answer.status == "not_in_document" and answer.quotes == []
    assert [c.supported for c in answer.claims] == [False]
    assert "The author says 300 people died. [unsupported]" in answer.text
    assert answer.text.startswith("Note:") and "The document does not say." in answer.text


def test_a_second_build_of_the_same_index_keeps_the_first(tmp_path: Path, bot: Assistant) -> None:
    path = _write(tmp_path / "c.txt", "Title\n\nOne sentence here. Another one.\n")
    embedder: Embedder = bot.embedder
    settings = IndexSettings(cache_dir=str(tmp_path / "cache"))
    first = Index.open(Corpus([path]), embedder, settings)
    meta = (first.folder / "derived" / "meta.json").read_text()
    # Another process syncing the same documents later must not replace (or delete) it.
    second = Index(Corpus([path]), embedder, first.folder, settings)
    assert second.sync().embedded == 0
    assert (first.folder / "derived" / "meta.json").read_text() == meta
    assert sorted(p.name for p in first.folder.parent.iterdir()) == [first.folder.name]


def test_cli_in_a_pipeline_ends_quietly(tmp_path: Path) -> None:
    # Far more output than a pipe buffers, so `head` really closes the pipe mid-write.
    big = "Long article\n\n" + "A plain sentence that says very little at all. " * 4000 + "\n"
    doc = _write(tmp_path / "big.txt", big)
    proc = subprocess.run(
        f'"{sys.executable}" -m assistant --document "{doc}" audit --json | head -n 1',
        shell=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.stdout.startswith("{")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
