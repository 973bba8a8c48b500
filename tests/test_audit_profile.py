"""The document profile (author's voice, citation apparatus) against the labels the
reading set's writers gave their train and dev documents (the sealed split is not read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.audit import profile
from index.load import load_document

pytestmark = pytest.mark.fast

DOCS = Path(__file__).parent / "data" / "reading" / "docs"


def labelled() -> list[tuple[Path, dict]]:
    out = []
    for meta in sorted(DOCS.glob("*.meta.json")):
        stem = meta.name[: -len(".meta.json")]
        (path,) = [p for p in DOCS.glob(stem + ".*") if p.suffix in (".txt", ".md", ".html")]
        out.append((path, json.loads(meta.read_text(encoding="utf-8"))))
    return out


def test_profile_matches_the_writers_labels() -> None:
    rows = labelled()
    assert len(rows) >= 100
    voice = sum(profile(load_document(p)).voice == (m["voice"] == "author") for p, m in rows)
    apparatus = sum(
        profile(load_document(p)).apparatus == (m["citations"] != "none") for p, m in rows
    )
    # measured when the rule was written: voice 99/101, apparatus 101/101
    assert voice >= 0.95 * len(rows)
    assert apparatus == len(rows)


def test_the_default_article_is_authored_and_cited(document) -> None:
    shape = profile(document)
    assert shape.voice and shape.apparatus and shape.noun == "article"
