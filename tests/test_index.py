"""The persisted hybrid index: cache keys, build-once, crash safety, search, RRF fusion."""

from __future__ import annotations

import json
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
from index.document import Document, Sentence
from index.embed import Embedder, exported_model, model_cache_dir
from index.load import load_document
from index.store import (
    COLLECTION,
    RRF_K,
    Hit,
    HybridIndex,
    MemoryIndex,
    chroma_client,
    fuse,
    passage_view,
)

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


@pytest.fixture(scope="module")
def built(document: Document, embedder: Embedder, cache: Path) -> tuple[HybridIndex, float, int]:
    """A fresh build of the article's index in an empty cache: (index, seconds, builds run)."""
    calls: list[float] = []
    original = HybridIndex.build

    def counting_build(self: HybridIndex, progress: bool = False, **kwargs: object) -> float:
        seconds = original(self, progress, **kwargs)
        calls.append(seconds)
        return seconds

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HybridIndex, "build", counting_build)
        started = time.perf_counter()
        index = HybridIndex.open(document, embedder, cache_dir=cache)
        seconds = time.perf_counter() - started
    return index, seconds, len(calls)


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# -- life cycle ---------------------------------------------------------------------------------


def test_first_open_builds_into_the_keyed_folder(
    built: tuple[HybridIndex, float, int], document: Document, embedder: Embedder, cache: Path
) -> None:
    index, _, builds = built
    assert builds == 1
    assert index.path == cache / "index" / HybridIndex.key(document, embedder)
    assert {p.name for p in index.path.iterdir()} >= {
        "chroma", "bm25", "vocab.json", "vocab.npy", "meta.json"
    }  # fmt: skip
    meta = json.loads((index.path / "meta.json").read_text())
    assert meta["document"] == document.id
    assert meta["model"] == embedder.key
    assert meta["passages"] == [s.id for s in document.sentences]
    assert meta["chroma"] == "embedded"
    assert _leftovers(cache / "index") == [index.path.name]  # no temp folders left behind


def test_second_open_loads_without_building(
    built: tuple[HybridIndex, float, int],
    document: Document,
    embedder: Embedder,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index, build_seconds, _ = built
    meta = index.path / "meta.json"
    before = meta.stat().st_mtime_ns

    def no_build(self: HybridIndex, progress: bool = False, **kwargs: object) -> float:
        raise AssertionError("a valid index was rebuilt")

    monkeypatch.setattr(HybridIndex, "build", no_build)
    started = time.perf_counter()
    again = HybridIndex.open(document, embedder, cache_dir=cache)
    seconds = time.perf_counter() - started
    assert again.path == index.path
    assert meta.stat().st_mtime_ns == before
    assert seconds < 1.0 and seconds < build_seconds / 3
    assert [h.passage.id for h in again.search("police injured", k=3)] == [
        h.passage.id for h in index.search("police injured", k=3)
    ]


def test_changed_document_gets_another_folder(
    document: Document, embedder: Embedder, tmp_path: Path
) -> None:
    changed_path = tmp_path / "article.txt"
    changed_path.write_text(document.text.replace("over 100 police", "over 200 police"), "utf-8")
    changed = load_document(changed_path)
    assert changed.id != document.id
    assert HybridIndex.key(changed, embedder) != HybridIndex.key(document, embedder)
    # the same text elsewhere is the same index
    same_path = tmp_path / "copy.txt"
    same_path.write_text(document.text, "utf-8")
    assert HybridIndex.key(load_document(same_path), embedder) == HybridIndex.key(
        document, embedder
    )


def test_other_embedding_model_gets_another_folder(document: Document, embedder: Embedder) -> None:
    other = Embedder(model_path="/models/some-other-minilm")
    assert other.key != embedder.key
    assert HybridIndex.key(document, other) != HybridIndex.key(document, embedder)


def test_stale_meta_is_rebuilt(
    document: Document, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder whose meta.json does not describe this document's passages is not trusted."""
    path = tmp_path / "index" / HybridIndex.key(document, embedder)
    path.mkdir(parents=True)
    (path / "meta.json").write_text(json.dumps({"format": 3, "passages": ["x"]}))
    built: list[bool] = []

    def fake_build(self: HybridIndex, progress: bool = False, **kwargs: object) -> float:
        built.append(True)
        raise IndexBuildError("stop here")

    monkeypatch.setattr(HybridIndex, "build", fake_build)
    with pytest.raises(IndexBuildError):
        HybridIndex.open(document, embedder, cache_dir=tmp_path)
    assert built == [True]


# -- crash safety -------------------------------------------------------------------------------


@pytest.fixture
def small_doc(tmp_path: Path) -> Document:
    path = tmp_path / "harbour.txt"
    path.write_text(SMALL_DOC, encoding="utf-8")
    return load_document(path)


def _boom(*args: object, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize(
    ("target", "name"),
    [(bm25s.BM25, "save"), (np, "save")],
    ids=["bm25-save", "np-save"],
)
def test_crashed_build_leaves_nothing_behind(
    small_doc: Document,
    embedder: Embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: object,
    name: str,
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setattr(target, name, _boom)
    with pytest.raises(IndexBuildError, match=r"index build failed: .*No space left"):
        HybridIndex.open(small_doc, embedder, cache_dir=cache)
    root = cache / "index"
    assert not (root / HybridIndex.key(small_doc, embedder)).exists()
    assert _leftovers(root) == []


def test_interrupted_build_leaves_no_temp_folder(
    small_doc: Document, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the first build is the commonest crash of all: the interrupt must
    propagate, and the half-written temp folder must still be removed."""

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    cache = tmp_path / "cache"
    monkeypatch.setattr(bm25s.BM25, "save", interrupt)
    with pytest.raises(KeyboardInterrupt):
        HybridIndex.open(small_doc, embedder, cache_dir=cache)
    assert _leftovers(cache / "index") == []


# -- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_search_modes(built: tuple[HybridIndex, float, int], document: Document, mode: str) -> None:
    index = built[0]
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


def test_search_rejects_unknown_mode(built: tuple[HybridIndex, float, int]) -> None:
    with pytest.raises(ValueError, match="unknown retrieval mode"):
        built[0].search("police", mode="semantic")


def test_bm25_with_no_known_terms_finds_nothing(built: tuple[HybridIndex, float, int]) -> None:
    assert built[0].search("zzzqx qqqwv", mode="bm25") == []


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


# -- importability ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module", ["index.load", "index.store", "index.embed", "index.corpus", "index.corpus_store"]
)
def test_index_modules_import_first(module: str) -> None:
    """``import index.load`` in a fresh interpreter (a script, a notebook, the benchmark)
    must not depend on ``assistant`` having been imported before."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1]


# -- a document of a corpus searches as its own index does ---------------------------------------


def test_memory_index_searches_like_the_hybrid_index(
    built: tuple[HybridIndex, float, int], document: Document, embedder: Embedder
) -> None:
    index = built[0]
    got = index._collection.get(include=["embeddings"])
    by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
    vectors = np.stack([by_id[p.id] for p in index.passages])
    memory = MemoryIndex(document, embedder, vectors, index.vocabulary)
    for question in ["How many police were injured?", "Who funds NEXTA?", "curfew in Almaty"]:
        for mode in ("hybrid", "dense", "bm25"):
            a = [(h.passage.id, h.dense_rank, h.bm25_rank) for h in index.search(question, 8, mode)]
            b = [
                (h.passage.id, h.dense_rank, h.bm25_rank) for h in memory.search(question, 8, mode)
            ]
            assert a == b, (question, mode)
    with pytest.raises(IndexBuildError, match="vectors for"):
        MemoryIndex(document, embedder, vectors[:3], index.vocabulary)


def test_server_index_has_its_own_key(document: Document, embedder: Embedder) -> None:
    local = HybridIndex.key(document, embedder)
    assert HybridIndex.key(document, embedder, "http://127.0.0.1:8000") != local
    assert HybridIndex.key(document, embedder, None) == local


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
    assert Embedder().backend == "onnx-int8"
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
    original_add = Collection.add

    def counting_add(self: Collection, *args: object, **kwargs: object) -> None:
        adds.append(len(kwargs["ids"]))  # type: ignore[arg-type]
        return original_add(self, *args, **kwargs)

    monkeypatch.setattr(Client, "get_max_batch_size", lambda self: 7)
    monkeypatch.setattr(Collection, "add", counting_add)
    index = HybridIndex.open(document, embedder, cache_dir=tmp_path / "cache")
    n = len(document.sentences)
    assert adds == [7] * (n // 7) + ([n % 7] if n % 7 else [])
    stored = chroma_client(None, index.path / "chroma").get_collection(COLLECTION)
    assert stored.count() == n
    last = document.sentences[-1]
    assert last.id in [h.passage.id for h in index.search(last.text, k=3, mode="dense")]
