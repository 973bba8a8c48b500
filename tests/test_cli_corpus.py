"""``python -m assistant --documents DIR``: the command line over a small corpus.

Three documents (the shipped article, a short report and a Markdown note) in a temporary
folder, indexed into a temporary cache (``$ASSISTANT_CACHE_DIR``) so the repository's cache
is never touched.  The subprocess runs check what a user sees; the rest call ``main``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import BAKE, HARBOUR

from assistant import cli
from assistant.audit import audit
from assistant.core import Assistant, default_document
from index.document import SECTIONS, Document
from index.load import load_document

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180
QUESTION = "How many police officers were injured?"
ARTICLE = "Kazakhstan: “Colour Revolution” Riots Explode"
MUSEUM = (
    "<html><head><title>Museum news</title></head><body><h1>Museum Reopens</h1>"
    "<p>The town museum reopened on Saturday after a two-year renovation.</p></body></html>"
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(default_document(), folder / "kazakhstan.txt")
    _write(folder / "harbour.txt", HARBOUR)
    _write(folder / "notes" / "bake.md", BAKE)
    return folder


def _documents(folder: Path) -> dict[str, Document]:
    """The corpus's documents by id, parsed here (independently of the index)."""
    docs = [load_document(p.resolve()) for p in sorted(folder.rglob("*")) if p.is_file()]
    return {d.id: d for d in docs}


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)  # the default backend must be the offline one
    env.pop("ASSISTANT_DOCUMENTS", None)
    env["ASSISTANT_CACHE_DIR"] = str(cache)
    # how a multi-document answer is shown, with the answerer whose choices here are known
    # (the default's judgement is the evaluation's; see test_corpus.PINNED)
    env["ASSISTANT_PRESET"] = "rules"
    env["COLUMNS"] = "80"
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("ANONYMIZED_TELEMETRY", "False")
    return env


def _start(cache: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=_env(cache),
    )


def _finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The corpus folder and its own index cache."""
    root = tmp_path_factory.mktemp("cli-corpus")
    return _make_corpus(root / "docs"), root / "cache"


@pytest.fixture(scope="module")
def runs(corpus: tuple[Path, Path]) -> dict[str, subprocess.CompletedProcess[str]]:
    """``index`` first (so the asks find the index built), then both asks in parallel."""
    folder, cache = corpus
    runs = {"index": _finish(_start(cache, "--documents", str(folder), "index"))}
    procs = {
        "text": _start(cache, "--documents", str(folder), "ask", QUESTION),
        "json": _start(cache, "--documents", str(folder), "ask", QUESTION, "--json"),
    }
    return runs | {name: _finish(proc) for name, proc in procs.items()}


@pytest.fixture
def cached(corpus: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """In-process runs use the corpus's cache and an 80-column terminal."""
    folder, cache = corpus
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(cache))
    monkeypatch.setenv("ASSISTANT_PRESET", "rules")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("ASSISTANT_DOCUMENTS", raising=False)
    yield folder


# -- ask -----------------------------------------------------------------------------------------


def test_ask_names_each_quotes_document(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["text"]
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Traceback" not in result.stderr
    assert f"According to “{ARTICLE}”" in out and "According to “Harbour Report”" in out
    # the quote's document, named; the harbour report has no author's voice: "document body"
    assert "(“Harbour Report”, document body, chars " in out
    assert f"(“{ARTICLE}”, article body, chars " in out
    assert "with over 100 police injured.[9]" in out
    assert out.rstrip().splitlines()[-1] == "status: answered · backend: extractive"


def test_ask_json_quotes_index_their_own_document(
    runs: dict[str, subprocess.CompletedProcess[str]], corpus: tuple[Path, Path]
) -> None:
    result = runs["json"]
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"question", "status", "text", "quotes", "claims", "backend"}
    assert data["status"] == "answered" and data["backend"] == "extractive"
    docs = _documents(corpus[0])
    titles = set()
    for q in data["quotes"]:
        doc = docs[q["document_id"]]
        assert doc.text[q["start"] : q["end"]] == q["text"]
        assert q["document_title"] == doc.title
        assert q["section"] in SECTIONS
        titles.add(q["document_title"])
    assert titles == {ARTICLE, "Harbour Report"}  # two documents, each quoted from its own
    for c in data["claims"]:
        assert len({data["quotes"][i]["document_id"] for i in c["quotes"]}) == 1


# -- index ---------------------------------------------------------------------------------------


def test_index_reports_what_it_added_then_that_nothing_changed(
    runs: dict[str, subprocess.CompletedProcess[str]],
    cached: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = runs["index"]
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("index ready: 3 documents, ")
    passages = int(lines[0].split(", ")[1].split()[0])
    assert lines[1] == f"3 added, 0 changed, 0 removed, 0 unchanged; {passages} passages embedded"
    assert "index: 100%" in first.stderr  # the progress bar, on stderr

    assert cli.main(["--documents", str(cached), "index"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"index ready: 3 documents, {passages} passages in ")
    assert out[1] == "0 added, 0 changed, 0 removed, 3 unchanged; 0 passages embedded"
    # the folder it reports is the one Assistant(documents=...) answers from
    folder = out[0].rsplit(" at ", 1)[1]
    bot = Assistant(documents=cached, backend="extractive")
    assert Path(folder) == bot.index.folder


def test_index_tells_added_changed_and_removed_apart_and_rebuilds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "docs"
    folder.mkdir()
    _write(folder / "harbour.txt", HARBOUR)
    _write(folder / "bake.md", BAKE)
    _write(folder / "museum.html", MUSEUM)
    argv = ["--documents", str(folder), "index"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("3 added, 0 changed, 0 removed, ")

    _write(folder / "harbour.txt", HARBOUR + "The storm passed by evening.\n")  # changed
    (folder / "bake.md").unlink()  # removed
    _write(folder / "town.txt", "Town news\n\nThe mayor opened the fair.\n")  # added
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("index ready: 3 documents, ")
    assert out[1].startswith("1 added, 1 changed, 1 removed, 1 unchanged; ")

    assert cli.main([*argv, "--rebuild"]) == 0
    out = capsys.readouterr().out.splitlines()
    passages = int(out[0].split(", ")[1].split()[0])
    assert out[1] == (
        f"0 added, 0 changed, 0 removed, 3 unchanged; {passages} passages embedded "
        "(rebuilt from scratch)"
    )


def test_file_changes_counts_files() -> None:
    from index.store import file_changes

    before = {"a": "1", "b": "2", "c": "3"}
    after = {"a": "1", "b": "9", "d": "4"}
    assert file_changes(before, after) == {
        "added": 1,
        "changed": 1,
        "removed": 1,
        "unchanged": 1,
    }


# -- audit and documents -------------------------------------------------------------------------


def test_audit_table_has_a_document_column(
    runs: dict[str, subprocess.CompletedProcess[str]],
    cached: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--documents", str(cached), "audit"]) == 0
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert lines[0].split() == ["#", "document", "section", "status", "sentence"]
    rows, blank, summary = lines[1:-2], lines[-2], lines[-1]
    assert blank == ""
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    docs = sorted(_documents(cached).values(), key=lambda d: str(d.path))
    expected = [(d.title, s) for d in docs for s in d.sentences]
    assert len(rows) == len(expected)
    for i, (row, (title, sentence)) in enumerate(zip(rows, expected, strict=True), 1):
        number, rest = row.split(maxsplit=1)
        assert int(number) == i
        shown = rest[: rest.index("  ")].removesuffix("…")
        assert title.startswith(shown)  # the title, cut to its column
        assert sentence.section in row.split()
    injured = next(r for r in rows if "Police said two" in r)
    assert "Harbour Report" in injured and "uncited" in injured
    assert any("Kazakhstan" in r and "cited [9]" in r for r in rows)
    assert summary.startswith(f"{len(rows)} sentences in 3 documents: ")


def test_audit_json_rows_name_their_document(
    runs: dict[str, subprocess.CompletedProcess[str]],
    cached: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--documents", str(cached), "audit", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    docs = _documents(cached)
    assert {r["document_title"] for r in rows} == {ARTICLE, "Harbour Report", "Village Bake Sale"}
    for doc_id, doc in docs.items():
        mine = [r for r in rows if r["document_id"] == doc_id]
        assert [r["text"] for r in mine] == [s.text for s in doc.sentences]
        assert [r["status"] for r in mine] == [e.status for e in audit(doc)]
        assert all(doc.text[r["start"] : r["end"]] == r["text"] for r in mine)
        assert {r["document_title"] for r in mine} == {doc.title}


def test_documents_lists_id_title_passages_and_path(
    runs: dict[str, subprocess.CompletedProcess[str]],
    cached: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--documents", str(cached), "documents", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    docs = _documents(cached)
    assert {r["id"] for r in rows} == set(docs)
    for r in rows:
        assert set(r) == {"id", "title", "path", "passages"}
        assert r["title"] == docs[r["id"]].title and Path(r["path"]) == docs[r["id"]].path
        assert r["passages"] > 0

    assert cli.main(["--documents", str(cached), "documents"]) == 0
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert lines[0].split() == ["id", "passages", "title", "path"]
    for line, r in zip(lines[1:-2], rows, strict=True):
        assert line.startswith(f"{r['id']}  ") and line.endswith(f"  {r['path']}")
        title = line[len(r["id"]) :].split(maxsplit=1)[1].rsplit("  ", 1)[0].strip()
        assert r["title"].startswith(title.removesuffix("…"))
    passages = sum(r["passages"] for r in rows)
    assert lines[-1] == f"3 documents, {passages} passages"


def test_documents_of_one_document(
    document: Document, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ASSISTANT_DOCUMENTS", raising=False)
    assert cli.main(["documents", "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["id"], row["title"]) == (document.id, document.title)


def test_env_names_the_corpus(
    runs: dict[str, subprocess.CompletedProcess[str]],
    cached: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ASSISTANT_DOCUMENTS", str(cached))
    assert cli.main(["documents", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    # several --documents: files and folders together
    argv = ["--documents", str(cached / "harbour.txt"), "--documents", str(cached / "notes")]
    assert cli.main([*argv, "documents", "--json"]) == 0
    titles = {json.loads(line)["title"] for line in capsys.readouterr().out.splitlines()}
    assert titles == {"Harbour Report", "Village Bake Sale"}


def test_corpus_audit_table_fits_the_terminal(document: Document, tmp_path: Path) -> None:
    harbour = load_document(_write(tmp_path / "harbour.txt", HARBOUR))
    rows = [
        {**e.to_dict(), "document_id": d.id, "document_title": d.title}
        for d in (document, harbour)
        for e in audit(d)
    ]
    for width in (72, 80, 100, 160):
        lines = cli.audit_table(rows, width).splitlines()
        assert max(len(line) for line in lines) <= width, width
    wide = cli.audit_table(rows, 500)
    assert all(" ".join(r["text"].split()) in wide for r in rows)  # nothing cut when it fits
    assert f"  {document.title}  " in wide and "  Harbour Report  " in wide
