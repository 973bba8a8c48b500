"""The persisted index: cache keys, incremental syncs, crash safety, search, RRF fusion.

One document is an index of one: these tests open the article alone; the same index over
many documents is exercised in ``test_corpus.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import bm25s
import numpy as np
import pytest

from assistant.core import Assistant
from assistant.errors import IndexBuildError
from index import embed as embed_module
from index.corpus import Corpus
from index.document import Document, Sentence
from index.embed import Embedder, exported_model, model_cache_dir
from index.search import Hit, MemoryIndex, fuse, passage_view
from index.settings import IndexSettings, Settings
from index.store import COLLECTION, Index, chroma_client

RRF_K = IndexSettings().rrf_k
ROOT = Path(__file__).resolve().parents[1]
SMALL_DOC = (
    "Harbour Report\n\n"
    "Fishing boats returned early because of the storm. The harbour master closed the port "
    "at noon. Nobody was hurt.\n"
)


@pytest.fixture(scope="module")
def embedder(bot: Assistant) -> Embedder:
    """The session's embedder, so the model loads once."""
    return bot.embedder


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index-cache")


def _settings(cache: Path, **more: object) -> IndexSettings:
    return IndexSettings(cache_dir=str(cache), **more)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def built(document: Document, embedder: Embedder, cache: Path) -> tuple[Index, float]:
    """A fresh build of the article's index in an empty cache: (index, seconds)."""
    started = time.perf_counter()
    index = Index.open(Corpus([document.path]), embedder, _settings(cache))
    return index, time.perf_counter() - started


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# -- life cycle ---------------------------------------------------------------------------------


def test_first_open_builds_into_the_keyed_folder(
    built: tuple[Index, float], document: Document, embedder: Embedder, cache: Path
) -> None:
    index, _ = built
    report = index.last_sync
    passages = [s for s in document.sentences if s.text.strip()]
    assert (report.added, report.embedded) == (1, len(passages))
    assert index.folder == cache / "index" / Index.key(index.corpus, embedder)
    assert {p.name for p in index.folder.iterdir()} >= {"chroma", "derived", "manifest.sqlite"}
    assert {p.name for p in (index.folder / "derived").iterdir()} >= {
        "bm25", "vocab.json", "vocab.npy", "meta.json", "lexicon.json", "passages.npz"
    }  # fmt: skip
    assert list(index.records) == [document.id] and len(index) == 1
    assert index.passages == len(passages) == index._collection.count()
    assert _leftovers(cache / "index") == [index.folder.name]  # no temp folders left behind


def test_second_open_loads_without_building(
    built: tuple[Index, float], document: Document, embedder: Embedder, cache: Path
) -> None:
    index, build_seconds = built
    started = time.perf_counter()
    again = Index.open(Corpus([document.path]), embedder, _settings(cache))
    seconds = time.perf_counter() - started
    report = again.last_sync
    assert again.folder == index.folder
    assert (report.added, report.embedded, report.unchanged) == (0, 0, 1)
    assert seconds < 1.0 and seconds < build_seconds / 2
    assert [h.passage.id for h in again.search("police injured", k=3)] == [
        h.passage.id for h in index.search("police injured", k=3)
    ]


def test_edited_document_is_reindexed_in_place(
    document: Document, embedder: Embedder, tmp_path: Path
) -> None:
    """A document is known by the hash of its text: an edit is one document out and one in,
    in the same folder; the same text elsewhere is the same document."""
    path = tmp_path / "article.txt"
    path.write_text(document.text, "utf-8")
    settings = _settings(tmp_path / "cache")
    first = Index.open(Corpus([path]), embedder, settings)
    assert list(first.records) == [document.id]
    path.write_text(document.text.replace("over 100 police", "over 200 police"), "utf-8")
    again = Index.open(Corpus([path]), embedder, settings)
    assert again.folder == first.folder
    assert (again.last_sync.added, again.last_sync.removed) == (1, 1)
    assert list(again.records) != [document.id]
    assert again.last_sync.files == {"added": 0, "changed": 1, "removed": 0, "unchanged": 0}


def test_other_embedding_model_or_server_gets_another_folder(
    document: Document, embedder: Embedder
) -> None:
    corpus = Corpus([document.path])
    other = Embedder(model_path="/models/some-other-minilm")
    assert other.key != embedder.key
    assert Index.key(corpus, other) != Index.key(corpus, embedder)
    local = Index.key(corpus, embedder)
    assert Index.key(corpus, embedder, "http://127.0.0.1:8000") != local
    assert Index.key(corpus, embedder, None) == local


@pytest.mark.parametrize(
    "damage", ["derived/meta.json", "derived/vocab.npy", "derived/lexicon.json", "manifest.sqlite"]
)
def test_damaged_files_are_rebuilt_at_open(
    document: Document, embedder: Embedder, tmp_path: Path, damage: str
) -> None:
    """Derived data is derived again (no embedding); a damaged manifest is started afresh
    and the store reconciled with the files."""
    settings = _settings(tmp_path / "cache")
    first = Index.open(Corpus([document.path]), embedder, settings)
    question = [h.passage.id for h in first.search("police injured", k=3)]
    first.close()
    (first.folder / damage).write_bytes(b"\x00garbage{" * 64)
    again = Index.open(Corpus([document.path]), embedder, settings)
    assert [h.passage.id for h in again.search("police injured", k=3)] == question
    if damage.startswith("derived"):
        assert again.last_sync.embedded == 0


# -- crash safety -------------------------------------------------------------------------------


@pytest.fixture
def small_doc(tmp_path: Path) -> Path:
    path = tmp_path / "harbour.txt"
    path.write_text(SMALL_DOC, encoding="utf-8")
    return path


def _boom(*args: object, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize(
    ("target", "name"),
    [(bm25s.BM25, "save"), (np, "savez")],
    ids=["bm25-save", "np-savez"],
)
def test_crashed_build_leaves_no_temp_folder_and_resumes(
    small_doc: Path,
    embedder: Embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: object,
    name: str,
) -> None:
    settings = _settings(tmp_path / "cache")
    with monkeypatch.context() as mp:
        mp.setattr(target, name, _boom)
        with pytest.raises(IndexBuildError, match=r"index update failed: .*No space left"):
            Index.open(Corpus([small_doc]), embedder, settings)
    folders = list((tmp_path / "cache" / "index").iterdir())
    assert len(folders) == 1 and not list(folders[0].glob(".derived-*"))
    again = Index.open(Corpus([small_doc]), embedder, settings)
    assert again.last_sync.embedded == 0  # what was embedded before the crash is kept
    assert again.search("harbour master", k=1)


def test_interrupted_build_leaves_no_temp_folder(
    small_doc: Path, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the first build is the commonest crash of all: the interrupt must
    propagate, and the half-written temp folder must still be removed."""

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bm25s.BM25, "save", interrupt)
    with pytest.raises(KeyboardInterrupt):
        Index.open(Corpus([small_doc]), embedder, _settings(tmp_path / "cache"))
    (folder,) = (tmp_path / "cache" / "index").iterdir()
    assert not list(folder.glob(".derived-*"))


def test_a_second_index_of_the_same_files_reuses_the_first(
    small_doc: Path, embedder: Embedder, tmp_path: Path
) -> None:
    """Another process opening the same documents later finds them indexed: it embeds
    nothing and replaces nothing."""
    settings = _settings(tmp_path / "cache")
    first = Index.open(Corpus([small_doc]), embedder, settings)
    second = Index.open(Corpus([small_doc]), embedder, settings)
    assert second.folder == first.folder and second.last_sync.embedded == 0
    assert _leftovers(tmp_path / "cache" / "index") == [first.folder.name]


def test_rebuild_swaps_a_complete_index_in(
    small_doc: Path, embedder: Embedder, tmp_path: Path
) -> None:
    settings = _settings(tmp_path / "cache")
    first = Index.open(Corpus([small_doc]), embedder, settings)
    again = Index.open(Corpus([small_doc]), embedder, settings, rebuild=True)
    assert again.last_sync.rebuilt_store and again.last_sync.embedded == first.passages
    assert again.folder == first.folder
    assert _leftovers(tmp_path / "cache" / "index") == [first.folder.name]
    assert again.search("harbour master", k=1)


# -- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_search_modes(built: tuple[Index, float], document: Document, mode: str) -> None:
    for index in (built[0], built[0].document_index(document.id)):
        hits = index.search("How many police were injured?", k=5, mode=mode)
        assert 0 < len(hits) <= 5
        assert all(isinstance(h, Hit) for h in hits)
        for h in hits:
            p = h.passage
            assert document.text[p.start : p.end] == p.text
            assert p in document.sentences
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        gold = "with over 100 police injured.[9]"
        assert any(h.passage.text.endswith(gold) for h in hits[:3])
        if mode == "bm25":
            assert all(h.dense_rank is None and h.bm25_rank is not None for h in hits)
        elif mode == "dense":
            assert all(h.bm25_rank is None and h.dense_rank is not None for h in hits)
            assert all(-1.0 <= h.dense <= 1.0 for h in hits)


def test_search_rejects_unknown_mode(built: tuple[Index, float], document: Document) -> None:
    for index in (built[0], built[0].document_index(document.id)):
        with pytest.raises(ValueError, match="unknown retrieval mode"):
            index.search("police", mode="semantic")


def test_bm25_with_no_known_terms_finds_nothing(
    built: tuple[Index, float], document: Document
) -> None:
    assert built[0].search("zzzqx qqqwv", mode="bm25") == []
    assert built[0].document_index(document.id).search("zzzqx qqqwv", mode="bm25") == []


# -- reciprocal rank fusion ---------------------------------------------------------------------


def _passages(*names_and_starts: tuple[str, int]) -> dict[str, Sentence]:
    return {
        name: Sentence(
            id=name,
            index=i,
            block_index=0,
            section="body",
            start=start,
            end=start + 5,
            text=name * 5,
        )
        for i, (name, start) in enumerate(names_and_starts)
    }


def test_fuse_sums_reciprocal_ranks() -> None:
    by_id = _passages(("a", 0), ("b", 10), ("c", 20), ("d", 30))
    dense = {"a": 0.9, "b": 0.8, "c": 0.1}
    lexical = {"c": 5.0, "b": 3.0, "d": 0.5}
    hits = fuse(by_id, dense, lexical, k=10)
    expected = {
        "a": 1 / (RRF_K + 1),
        "b": 1 / (RRF_K + 2) + 1 / (RRF_K + 2),
        "c": 1 / (RRF_K + 3) + 1 / (RRF_K + 1),
        "d": 1 / (RRF_K + 3),
    }
    # c (3rd + 1st) edges out b (2nd + 2nd); a and d appear in one ranking only
    assert [h.passage.id for h in hits] == ["c", "b", "a", "d"]
    for h in hits:
        assert h.score == pytest.approx(expected[h.passage.id])
    by_name = {h.passage.id: h for h in hits}
    assert (by_name["c"].dense_rank, by_name["c"].bm25_rank) == (3, 1)
    assert (by_name["a"].dense_rank, by_name["a"].bm25_rank) == (1, None)
    assert (by_name["d"].dense_rank, by_name["d"].bm25_rank) == (None, 3)
    assert by_name["c"].dense == 0.1 and by_name["c"].bm25 == 5.0
    assert by_name["a"].bm25 == 0.0 and by_name["d"].dense == 0.0


def test_fuse_truncates_to_k_and_breaks_ties_by_position() -> None:
    by_id = _passages(("x", 50), ("y", 10), ("z", 30))
    hits = fuse(by_id, {"x": 0.7}, {"y": 2.0, "z": 1.0}, k=2)
    # x and y tie (both rank 1 once); y comes first in the document
    assert [h.passage.id for h in hits] == ["y", "x"]
    assert hits[0].score == hits[1].score == pytest.approx(1 / (RRF_K + 1))


def test_fuse_of_one_ranking_keeps_its_order() -> None:
    by_id = _passages(("a", 0), ("b", 10), ("c", 20))
    hits = fuse(by_id, {"a": 0.1, "b": 0.9, "c": 0.5}, {}, k=3)
    assert [h.passage.id for h in hits] == ["b", "c", "a"]
    assert fuse(by_id, {}, {}, k=3) == []


# -- layers and importability -------------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    ["index.load", "index.store", "index.embed", "index.corpus", "index.search", "index.lexicon"],
)
def test_index_modules_import_first(module: str) -> None:
    """``import index.load`` in a fresh interpreter (a script, a notebook, the benchmark)
    must not depend on ``assistant`` having been imported before."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}, sys; assert 'assistant' not in sys.modules"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1]


def test_index_imports_nothing_from_assistant() -> None:
    """The bottom layer stands alone: no module of ``index/`` imports ``assistant``."""
    offenders = []
    for path in sorted((ROOT / "index").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "assistant"]
    assert offenders == []


# -- a document searched on its own ---------------------------------------------------------------


def test_document_index_uses_the_stored_vectors(
    built: tuple[Index, float], document: Document, embedder: Embedder
) -> None:
    index = built[0]
    memory = index.document_index(document.id)
    passages = [p for p in document.sentences if p.text.strip()]
    fresh = embedder.encode([passage_view(p) for p in passages])
    assert float((memory._vectors * fresh).sum(axis=1).min()) > 0.9999
    with pytest.raises(IndexBuildError, match="vectors for"):
        MemoryIndex(document, embedder, fresh[:3], memory.vocabulary)


def test_embedded_client_needs_a_folder() -> None:
    with pytest.raises(IndexBuildError, match="needs a folder"):
        chroma_client(None, None)


# -- embedding backends -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_passages(document: Document) -> list[str]:
    return [passage_view(p) for p in document.sentences[:40]]


def test_onnx_embeddings_equal_sentence_transformers(sample_passages: list[str]) -> None:
    """The default ONNX backend is the same model: vectors and word-piece vectors match
    sentence-transformers' own to float precision."""
    onnx, torch_ = Embedder(backend="onnx"), Embedder(backend="torch")
    a, b = onnx.encode(sample_passages), torch_.encode(sample_passages)
    assert a.shape == b.shape == (len(sample_passages), 384)
    assert float((a * b).sum(axis=1).min()) > 0.9999
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    (va, sa), (vb, sb) = (
        onnx.token_vectors(sample_passages[5]),
        torch_.token_vectors(sample_passages[5]),
    )
    assert sa == sb
    assert float((va * vb).sum(axis=1).min()) > 0.999
    assert onnx.encode([]).shape == (0, 384)


def test_int8_embeddings_stay_close(sample_passages: list[str]) -> None:
    a = Embedder(backend="onnx").encode(sample_passages)
    b = Embedder(backend="onnx-int8").encode(sample_passages)
    assert float((a * b).sum(axis=1).mean()) > 0.98


def test_backend_is_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {Embedder(backend=b).key for b in ("onnx", "onnx-int8", "torch")}
    assert len(keys) == 3
    monkeypatch.setenv("ASSISTANT_EMBED_BACKEND", "onnx-int8")
    assert Embedder(settings=Settings.from_env().index).backend == "onnx-int8"
    with pytest.raises(IndexBuildError, match="unknown embedding backend"):
        Embedder(backend="tensorflow")


def test_onnx_export_is_made_once(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    first = exported_model(embedder.model_path, int8=False)
    assert first.exists() and first.parent.parent == model_cache_dir()

    def refuse(*args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(embed_module, "_export_onnx", refuse)
    assert exported_model(embedder.model_path, int8=False) == first


def test_build_adds_in_batches_chroma_accepts(
    document: Document, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma refuses one add of more than ``get_max_batch_size()`` records (5,461 here, a
    document of ~600,000 characters): the build adds in batches of that size."""
    from chromadb.api.client import Client
    from chromadb.api.models.Collection import Collection

    adds: list[int] = []
    original = Collection.upsert

    def counting_upsert(self: Collection, *args: object, **kwargs: object) -> None:
        if self.name == COLLECTION:
            adds.append(len(kwargs["ids"]))  # type: ignore[arg-type]
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Client, "get_max_batch_size", lambda self: 7)
    monkeypatch.setattr(Collection, "upsert", counting_upsert)
    index = Index.open(Corpus([document.path]), embedder, _settings(tmp_path / "cache"))
    n = len([s for s in document.sentences if s.text.strip()])
    assert adds == [7] * (n // 7) + ([n % 7] if n % 7 else [])
    stored = chroma_client(None, index.folder / "chroma").get_collection(COLLECTION)
    assert stored.count() == n
    last = document.sentences[-1]
    assert last.id in [h.passage.id for h in index.search(last.text, k=3, mode="dense")]
