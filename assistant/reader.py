"""The reader: a cross-encoder that judges (question, passage) and (claim, evidence) pairs.

One model, fine-tuned from the packaged all-MiniLM-L6-v2 on the reading set
(``python -m assistant.train_reader``), with two input forms: ``question: …`` against a
candidate passage (with its neighbouring sentences and section heading), giving the
probability that the passage answers the question; and ``claim: …`` against the quoted
evidence (with the sentences it stands in), giving the probability that the evidence
supports the claim.  It is shipped in the package as ONNX (``assistant/models/reader``)
and run with onnxruntime: no torch, no network, no training on a user's machine.

The input forms are defined here once; training builds its examples with the same
functions, so what the model learned is what it is shown.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from index.document import Document, Passage
from index.errors import IndexBuildError
from index.search import passage_view
from index.sentences import strip_footnote_markers

QUESTION = "question: "
CLAIM = "claim: "
#: Between the candidate and its context, and between quotes of one claim.
CONTEXT_MARK = " || "
QUOTE_JOIN = " … "
MAX_LENGTH = 128
#: The question (or claim) is cut to this many characters (the longest trained on: 148).
MAX_FIRST_CHARS = 200
#: Pairs scored per model call.
BATCH = 16
#: Pairs scored per call when only asking whether any passage reaches a floor.
GATE_STEP = 2


def model_dir() -> Path:
    """The shipped reader (``$ASSISTANT_READER`` is not read: Settings name another)."""
    return Path(str(resources.files("assistant").joinpath("models", "reader")))


def passage_context(passage: Passage, document: Document) -> str:
    """What the reader sees of a candidate: the passage as indexed (labelled by section),
    then its section heading and the sentences before and after it."""
    sentences = document.sentences
    i = passage.index
    heading = ""
    for block in reversed(document.blocks[: passage.block_index]):
        if block.kind in {"heading", "title"}:
            heading = block.text
            break
    before = sentences[i - 1].text if i > 0 else ""
    after = sentences[i + 1].text if i + 1 < len(sentences) else ""
    context = " ".join(strip_footnote_markers(x) for x in (heading, before, after) if x)
    view = passage_view(passage)
    return f"{view}{CONTEXT_MARK}{context}" if context else view


def qa_pair(question: str, passage: Passage, document: Document) -> tuple[str, str]:
    return QUESTION + question, passage_context(passage, document)


def claim_pair(claim: str, quotes: Sequence[str], context: str = "") -> tuple[str, str]:
    """The claim against its quotes; ``context``: the full sentences they come from."""
    evidence = QUOTE_JOIN.join(strip_footnote_markers(q) for q in quotes)
    context = strip_footnote_markers(context)
    if context and context.strip() != evidence.strip():
        evidence = f"{evidence}{CONTEXT_MARK}{context}"
    return CLAIM + claim, evidence


@dataclass(frozen=True)
class ReaderCard:
    """What the shipped model says about itself (``card.json``)."""

    version: str
    max_length: int
    #: the file onnxruntime loads (int8 where it kept accuracy on dev)
    file: str
    #: the decision threshold chosen on the dev split (the reader alone)
    answer_threshold: float

    @classmethod
    def load(cls, folder: Path) -> ReaderCard:
        data = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


class Reader:
    """The shipped cross-encoder on onnxruntime, loaded on first use."""

    def __init__(
        self, folder: str | Path | None = None, threads: int | None = None, file: str | None = None
    ) -> None:
        """``file``: a model file of ``folder`` to use instead of the card's (training
        compares its exports with it, before the card exists)."""
        self.folder = Path(folder) if folder else model_dir()
        self.threads = threads or max(1, len(os.sched_getaffinity(0)))
        self.file = file
        self._lock = threading.Lock()

    @cached_property
    def card(self) -> ReaderCard:
        try:
            return ReaderCard.load(self.folder)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexBuildError(f"no usable reader model in {self.folder}: {exc}") from exc

    @cached_property
    def _runtime(self):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if self.file:
            file, max_length = self.file, MAX_LENGTH
        else:
            file, max_length = self.card.file, self.card.max_length
        try:
            tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
            tokenizer.enable_truncation(max_length, strategy="only_second")
            tokenizer.no_padding()
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            session = ort.InferenceSession(
                str(self.folder / file), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise IndexBuildError(f"cannot load the reader model in {self.folder}: {exc}") from exc
        return tokenizer, session, {i.name for i in session.get_inputs()}

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """P(yes) for each (first, second) pair: answers the question / supports the claim."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        tokenizer, session, inputs = self._runtime
        # the passage is what truncation cuts; a first part longer than any trained on
        # (a pasted page as a question) is cut to its start, so it cannot crowd it out
        pairs = [(a[:MAX_FIRST_CHARS], b) for a, b in pairs]
        out = np.zeros(len(pairs), dtype=np.float32)
        order = np.argsort([-len(a) - len(b) for a, b in pairs], kind="stable")
        for start in range(0, len(pairs), BATCH):
            rows = order[start : start + BATCH]
            encodings = tokenizer.encode_batch([pairs[i] for i in rows])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for r, e in enumerate(encodings):
                ids[r, : len(e.ids)] = e.ids
                mask[r, : len(e.ids)] = 1
                types[r, : len(e.ids)] = e.type_ids
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in inputs:
                feed["token_type_ids"] = types
            with self._lock:
                logits = session.run(None, feed)[0].reshape(-1)
            out[rows] = 1.0 / (1.0 + np.exp(-logits))
        return out

    def answers(self, question: str, passages: Sequence[Passage], document: Document) -> np.ndarray:
        """P(the passage answers the question) for each passage of ``document``."""
        return self.probabilities([qa_pair(question, p, document) for p in passages])

    def best_reaches(
        self, question: str, passages: Sequence[Passage], document: Document, floor: float
    ) -> tuple[bool, float]:
        """Does any passage reach ``floor``?  Scored a few at a time in the order given
        (retrieval's, best first), stopping at the first that does: the gate's question,
        answered in a fraction of the time scoring all of them takes.  Also the best
        probability seen."""
        best = 0.0
        for start in range(0, len(passages), GATE_STEP):
            probs = self.answers(question, passages[start : start + GATE_STEP], document)
            best = max(best, float(probs.max()) if len(probs) else 0.0)
            if best >= floor:
                return True, best
        return False, best
