"""``python -m assistant``: readable answers, ``--json``, errors on stderr, ``audit``, ``serve``.

Each ``ask`` run imports the embedding model (~8 s), so the two that need it start
together and the rest are cheap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

import assistant
from assistant import cli
from assistant.audit import audit
from index.document import SECTIONS, Document

QUESTION = "How many police officers were injured?"
GOLD = "with over 100 police injured.[9]"
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)  # the default backend must be the offline one
    env["COLUMNS"] = "80"  # the audit table fits the terminal; tests have none
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("ANONYMIZED_TELEMETRY", "False")
    return env


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=_env(),
    )


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=_env(),
        timeout=TIMEOUT,
        check=False,
    )


def _finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def asked(bot: object) -> dict[str, subprocess.CompletedProcess[str]]:
    """Both model-loading runs, started in parallel.  (``bot`` first makes sure the index
    exists, so neither subprocess builds it.)"""
    _ = bot.index  # type: ignore[attr-defined]
    procs = {"text": _start("ask", QUESTION), "json": _start("ask", QUESTION, "--json")}
    return {name: _finish(proc) for name, proc in procs.items()}


def test_ask_prints_a_readable_answer(asked: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = asked["text"]
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert GOLD in out  # the quote, verbatim
    assert "(article body, chars " in out  # its section and offsets
    assert "footnotes 9" in out and "footnote 9" in out
    assert out.rstrip().splitlines()[-1] == "status: answered · backend: extractive"
    assert "Traceback" not in result.stderr


def test_ask_json_is_the_contract(
    asked: dict[str, subprocess.CompletedProcess[str]], document: Document
) -> None:
    result = asked["json"]
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"question", "status", "text", "quotes", "claims", "backend"}
    assert data["question"] == QUESTION
    assert data["status"] == "answered" and data["backend"] == "extractive"
    assert data["quotes"]
    for q in data["quotes"]:
        assert {"text", "start", "end", "section", "footnotes"} <= set(q)
        assert document.text[q["start"] : q["end"]] == q["text"]
        assert q["section"] in SECTIONS
    assert any(GOLD in q["text"] and q["footnotes"] == [9] for q in data["quotes"])
    for c in data["claims"]:
        assert set(c) == {"text", "supported", "quotes"}
        assert isinstance(c["supported"], bool)
        assert all(0 <= i < len(data["quotes"]) for i in c["quotes"])


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_exits_2(question: str) -> None:
    result = _run("ask", question)
    assert result.returncode == 2
    assert result.stderr.startswith("error:")
    assert "empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_missing_document_exits_2(tmp_path: Path) -> None:
    result = _run("--document", str(tmp_path / "nowhere.txt"), "audit")
    assert result.returncode == 2
    assert result.stderr.startswith("error: document not found")


def test_audit_json_prints_json_lines(document: Document) -> None:
    result = _run("audit", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(document.sentences)
    rows = [json.loads(line) for line in lines]
    assert [r["text"] for r in rows] == [s.text for s in document.sentences]
    assert {r["status"] for r in rows} == {"cited", "uncited", "hedged", "quoted"}
    hedged = next(r for r in rows if r["text"].startswith("There are some reports that NEXTA"))
    assert hedged["status"] == "hedged" and hedged["footnotes"] == [5]
    assert "“" in result.stdout  # not \u201c escapes: readable UTF-8


def test_audit_prints_a_readable_table(document: Document) -> None:
    result = _run("audit")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.rstrip("\n").split("\n")
    sentences = document.sentences
    assert lines[0].split() == ["#", "section", "status", "sentence"]
    rows, blank, summary = lines[1:-2], lines[-2], lines[-1]
    assert len(rows) == len(sentences) and blank == ""
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    for i, (row, sentence) in enumerate(zip(rows, sentences, strict=True), 1):
        number, section, *_ = row.split()
        assert (int(number), section) == (i, sentence.section)
        shown = row.rsplit("  ", 1)[-1].removesuffix("…")
        assert " ".join(sentence.text.split()).startswith(shown)  # truncated, not rewritten
    injured = next(r for r in rows if "Government buildings were stormed" in r)
    assert "cited [9]" in injured
    nexta = next(r for r in rows if "There are some reports that NEXTA" in r)
    assert "hedged [5]: there" in nexta  # footnote first, then the hedge words
    counts = Counter(e.status for e in audit(document))
    assert summary == (
        f"{len(sentences)} sentences: {counts['cited']} cited, {counts['uncited']} uncited, "
        f"{counts['hedged']} hedged, {counts['quoted']} quoted"
    )


def test_audit_table_fits_narrow_and_wide_terminals(document: Document) -> None:
    rows = [e.to_dict() for e in audit(document)]
    for width in (60, 100, 160):
        lines = cli.audit_table(rows, width).splitlines()
        assert max(len(line) for line in lines) <= width
    wide = cli.audit_table(rows, 400)
    assert all(" ".join(r["text"].split()) in wide for r in rows)  # nothing cut when it fits


@pytest.fixture
def fake_web(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """``assistant.web`` replaced by a stub whose ``main`` records its argv (no Gradio)."""
    calls: list[list[str]] = []
    stub = types.ModuleType("assistant.web")
    stub.main = lambda argv=None: calls.append(list(argv or [])) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "assistant.web", stub)
    monkeypatch.setattr(assistant, "web", stub, raising=False)
    return calls


def test_serve_delegates_to_the_web_page(fake_web: list[list[str]]) -> None:
    assert cli.main(["serve"]) == 0
    argv = ["--document", "notes.md", "serve", "--port", "8001", "--mcp", "--backend", "openai"]
    assert cli.main(argv) == 0
    assert cli.main(["serve", "--host", "127.0.0.2"]) == 0
    assert fake_web == [
        [],  # unset flags keep the page's own defaults ($ASSISTANT_PORT and so on)
        ["--port", "8001", "--document", "notes.md", "--backend", "openai", "--mcp"],
        ["--host", "127.0.0.2"],
    ]


def test_main_leaves_the_sigpipe_handler_alone(capsys):
    """A process that calls main() (tests, a server) must keep BrokenPipeError on closed
    sockets; only the real command line restores the Unix default."""
    before = signal.getsignal(signal.SIGPIPE)
    assert cli.main(["audit", "--json"]) == 0
    capsys.readouterr()
    assert signal.getsignal(signal.SIGPIPE) == before


def test_serve_carries_the_corpus(
    fake_web: list[list[str]], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("ASSISTANT_DOCUMENTS", "from-env")  # the page reads it itself
    assert cli.main(["--documents", "articles", "serve", "--port", "8001"]) == 0
    assert cli.main(["serve"]) == 0
    assert fake_web == [["--port", "8001", "--documents", "articles"], []]
    # the page answers from one folder: several paths are refused, not silently cut
    assert cli.main(["--documents", "a", "--documents", "b", "serve"]) == 2
    assert capsys.readouterr().err.startswith("error: serve takes one --documents path")
    assert len(fake_web) == 2


def test_document_and_documents_exclude_each_other(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--document", "a.txt", "--documents", "docs", "audit"])
    assert exc.value.code == 2
    assert "not allowed with argument --document" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["ask", "What happened?"], ["index"], ["audit"], ["documents"]]
)
def test_bad_corpus_paths_exit_2(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ASSISTANT_DOCUMENTS", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "picture.png").write_bytes(b"\x89PNG")  # not a document type: still empty
    assert cli.main(["--documents", str(tmp_path / "nowhere"), *command]) == 2
    assert capsys.readouterr().err == f"error: document not found: {tmp_path / 'nowhere'}\n"
    assert cli.main(["--documents", str(empty), *command]) == 2
    assert capsys.readouterr().err.startswith("error: no documents (.htm, .html, ")
    monkeypatch.setenv("ASSISTANT_DOCUMENTS", str(tmp_path / "nowhere"))  # read from env too
    assert cli.main(command) == 2
    assert capsys.readouterr().err.startswith("error: document not found")
    assert not (tmp_path / "cache").exists()  # refused before anything was built


def test_document_flag_wins_over_the_env_corpus(
    document: Document, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("ASSISTANT_DOCUMENTS", "/nowhere")
    assert cli.main(["--document", str(document.path), "documents", "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == document.id


def test_unreadable_corpus_exits_2_and_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02 not text")
    env = _env() | {"ASSISTANT_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "--documents", str(folder), "ask", "What?"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert f"warning: skipped {folder / 'binary.txt'}: document looks binary" in result.stderr
    assert result.stderr.rstrip().endswith("error: no readable documents in the corpus (1 skipped)")
    assert "Traceback" not in result.stderr
