"""Every setting in one place: thresholds, limits and the environment variables behind them.

``Settings()`` holds the defaults; ``Settings.from_env()`` applies the environment;
``Settings.load(FILE)`` applies a TOML or JSON file over that (``{"answering":
{"min_coverage": 0.2}}``), so calibration is data that can be swept; ``settings.replace(
answering={"min_coverage": 0.2})`` derives a variant.  No other module reads ``os.environ``.

It sits at the bottom layer (beside the errors) because indexing is configured too; the
assistant re-exports it as ``assistant.settings``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from index.errors import AssistantError


class SettingsError(AssistantError):
    """A settings file or value that cannot be used."""


@dataclass(frozen=True)
class IndexSettings:
    """Where and how passages are stored and searched."""

    #: ``$ASSISTANT_CACHE_DIR``: index folders; default ``.cache`` in a checkout, else the
    #: user cache.
    cache_dir: str | None = None
    #: ``$ASSISTANT_CHROMA_URL``: keep vectors on a Chroma server (``http://host:port``,
    #: optionally ``?tenant=…&database=…``); empty or unset: the embedded store.
    chroma_url: str | None = None
    #: ``$ASSISTANT_CHROMA_TOKEN``: sent as ``x-chroma-token``; never part of URLs or keys.
    chroma_token: str | None = None
    #: ``$CHROMA_TENANT`` / ``$CHROMA_DATABASE``, when the URL does not name them.
    chroma_tenant: str | None = None
    chroma_database: str | None = None
    #: ``$ASSISTANT_EMBED_BACKEND``: ``onnx`` (default), ``onnx-int8`` or ``torch``.
    embed_backend: str = "onnx"
    #: ``$ASSISTANT_EMBED_THREADS``: threads for batches (default: every usable core).
    embed_threads: int | None = None
    #: ``$ASSISTANT_MODEL_CACHE``: where model exports are kept (default ``.cache/models``).
    model_cache: str | None = None
    #: Reciprocal rank fusion: 1 / (rrf_k + rank), weighted per ranking.  Equal weights: on
    #: tests/data/questions_train.jsonl, down-weighting BM25 (0.3-0.7) changed recall@3 by at
    #: most 0.02.
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    #: Distinct passage texts from the nearest neighbours and from BM25 fused per search.
    pool: int = 100
    #: A text many documents share brings at most this many of them into the pool.
    members: int = 16
    #: Documents parsed, embedded and upserted per step (also the resume granularity).
    chunk_documents: int = 128
    embed_batch: int = 64
    max_vocabulary: int = 200_000
    #: Parsed documents (and what is derived from each) kept in memory.
    document_cache: int = 512
    #: Largest document file accepted.
    max_document_bytes: int = 20_000_000


@dataclass(frozen=True)
class RetrievalSettings:
    """Question analysis and the choice of candidate documents and passages."""

    mode: str = "hybrid"  # hybrid | dense | bm25
    k: int = 8
    #: Minimum cosine for a document word to stand in for a question word ("hurt" ~ "injured").
    synonym_min: float = 0.58
    #: Documents retrieved from on their own per question.
    candidates: int = 8
    #: The hits end with the best passage of this many runner-up documents.
    runners_up: int = 2
    #: A document that never mentions a name the question asks about ranks this much lower.
    missing_name: float = 0.3


@dataclass(frozen=True)
class AnsweringSettings:
    """The offline answerer's decisions.  Thresholds calibrated on
    tests/data/questions_train.jsonl, a set kept apart from the evaluation sets."""

    #: ``$ASSISTANT_BACKEND``: a registered answerer's name; default ``openai`` when an API
    #: key is configured, else ``extractive``.
    backend: str | None = None
    max_question_chars: int = 2000
    #: Abstain when the best passage covers less of the question's terms than this and is
    #: less close in meaning than ``min_dense``.
    min_coverage: float = 0.1
    min_dense: float = 0.35
    #: A question with no content terms is answered only this close in meaning.
    dense_alone: float = 0.6
    max_quotes: int = 3
    #: Runners-up join the best passage when they score this share of it (lower for a
    #: question in several parts) and cover this much of the question.
    runner_up: float = 0.75
    runner_up_multi: float = 0.55
    runner_up_coverage: float = 0.15
    #: A figure/date/duration question keeps passages giving one within this share of the best.
    typed_min: float = 0.6
    #: Over a corpus: documents one answer may draw on, and the share of the best
    #: document's best passage another document's must reach to join.
    max_documents: int = 3
    other_document: float = 0.85
    #: ``gated`` (the hand-written rules choose what to quote, and the trained reader
    #: can only stop them: no retrieved passage reaching ``gate_floor`` means the document
    #: does not say), ``reader`` (the reader decides and chooses, with the rules named
    #: below beside it) or ``rules`` (the hand-written scores and thresholds above alone).
    #: ``Settings.preset`` names the three; the README gives their dev figures.  The
    #: default is the best by the mean of the reading set's dev split and the article's
    #: development set (``benchmarks/reader_sweep.py``).
    method: str = "reader"
    #: The reader's probability that one retrieved passage must reach for ``gated`` to let
    #: the rules answer.
    gate_floor: float = 0.1
    #: The reader's probability a passage must reach to answer; None: the shipped model's
    #: own (``card.json``: the best for the reader alone on the reading set's dev split).
    #: 0.1: the best with the rules below beside it, by the criterion above (0.2 is the
    #: best on the reading set's dev split alone).
    answer_threshold: float | None = 0.1
    #: Other passages join the best when their probability is at least this share of its.
    #: 0.7, not the sweep's best 0.3: the largest share at which the method still beats
    #: ``gated`` by the criterion above (dev: 70.8% against 70.5%; 73.0% at 0.3), so that an
    #: answer quotes 1.5 passages, not 2.0, and 69% of them overlap the gold, not 53%.
    reader_runner_up: float = 0.7
    #: How many of retrieval's candidates (best first) the reader reads: 6 keeps the
    #: warm answer under 60 ms on 2 cores (8 took 85 ms); dev mean 71.1% (8: 70.8%).
    reader_candidates: int = 6
    #: Rules kept beside the reader, each only where it beat the reader alone on dev (the
    #: closing notes give their measured effect): questions about footnote N answered from
    #: the document's structure; a name (or year) the document never mentions; a figure,
    #: date or duration asked for that the passages do not give; "the X of Y" with X and Y
    #: in no one passage.
    rule_footnotes: bool = True
    rule_missing_names: bool = True
    rule_typed: bool = False
    rule_relation: bool = True
    #: Where the reader model is (None: the one shipped in the package).
    reader_model: str | None = None


@dataclass(frozen=True)
class VerificationSettings:
    """How offered quotes are located and claims checked."""

    #: rapidfuzz partial ratio (0-100) for a quote located approximately.
    fuzzy_min: float = 90.0
    #: Share of a claim's plain content words that may go unmatched (paraphrase slack).
    tolerance: float = 0.25
    #: Contextual similarity at which a claim word counts as matched by an evidence word.
    synonym_min: float = 0.5
    #: ``model`` (the trained claim model decides from what the exact checks find; the
    #: checks of numbers, names, polarity and quantifiers can only lower support) or
    #: ``rules`` (the exact checks, then content-word coverage, as before the model).
    method: str = "model"
    #: The claim model's probability of support a claim must reach; None: the shipped
    #: model's own, chosen on dev.
    support_threshold: float | None = None
    #: Exact checks that refuse support on their own beside the claim model (comma-
    #: separated, of numbers, names, polarity, quantifiers; ``assistant.verify.VETOES``).
    vetoes: str = "numbers,names,quantifiers"


@dataclass(frozen=True)
class PageSettings:
    """The chat page and its server."""

    #: ``$ASSISTANT_HOST`` / ``$ASSISTANT_PORT`` / ``$ASSISTANT_MCP``.
    host: str = "127.0.0.1"
    port: int = 7860
    mcp: bool = False
    #: ``$ASSISTANT_DOCUMENTS``: a folder to answer from (a corpus) instead of the article.
    documents: str | None = None
    #: The picker lists this many documents; a larger corpus is searched by title.
    picker_limit: int = 200
    max_upload_bytes: int = 5_000_000


@dataclass(frozen=True)
class OpenAISettings:
    """Any OpenAI-compatible chat server."""

    #: ``$OPENAI_API_KEY``: also makes ``openai`` the default backend.
    api_key: str | None = field(default=None, repr=False)
    #: ``$OPENAI_BASE_URL``: another server (Ollama, vLLM, llama.cpp...).
    base_url: str | None = None
    #: ``$ASSISTANT_OPENAI_MODEL``.
    model: str = "gpt-4o-mini"
    timeout: float = 30.0
    max_retries: int = 2
    #: ``$ASSISTANT_OPENAI_MAX_TOKENS``: a hard cap on each answer's generated tokens, so a
    #: model that rambles is stopped in bounded time (the claims it finished are kept).
    max_tokens: int | None = 1024
    #: ``$ASSISTANT_OPENAI_OUTPUT``: how to ask for the answer's JSON: ``auto`` (negotiated
    #: per server: ``json_schema``, then ``json_object`` with the schema, then ``prompt``)
    #: or one of those three, to skip the negotiation.
    output: str = "auto"
    #: Earlier turns sent with a question, and the characters kept of each: they only
    #: resolve references.
    history_turns: int = 6
    history_chars: int = 600
    #: Characters of a document title named in the prompt: it only tells the model which
    #: document is which (the answer text names documents from the index, not the model).
    title_chars: int = 200


SECTIONS = {
    "index": IndexSettings,
    "retrieval": RetrievalSettings,
    "answering": AnsweringSettings,
    "verification": VerificationSettings,
    "page": PageSettings,
    "openai": OpenAISettings,
}

#: Environment variable -> (section, field).  The only environment the project reads.
ENVIRONMENT = {
    "ASSISTANT_CACHE_DIR": ("index", "cache_dir"),
    "ASSISTANT_CHROMA_URL": ("index", "chroma_url"),
    "ASSISTANT_CHROMA_TOKEN": ("index", "chroma_token"),
    "CHROMA_TENANT": ("index", "chroma_tenant"),
    "CHROMA_DATABASE": ("index", "chroma_database"),
    "ASSISTANT_EMBED_BACKEND": ("index", "embed_backend"),
    "ASSISTANT_EMBED_THREADS": ("index", "embed_threads"),
    "ASSISTANT_MODEL_CACHE": ("index", "model_cache"),
    "ASSISTANT_BACKEND": ("answering", "backend"),
    "ASSISTANT_HOST": ("page", "host"),
    "ASSISTANT_PORT": ("page", "port"),
    "ASSISTANT_MCP": ("page", "mcp"),
    "ASSISTANT_DOCUMENTS": ("page", "documents"),
    "OPENAI_API_KEY": ("openai", "api_key"),
    "OPENAI_BASE_URL": ("openai", "base_url"),
    "ASSISTANT_OPENAI_MODEL": ("openai", "model"),
    "ASSISTANT_OPENAI_MAX_TOKENS": ("openai", "max_tokens"),
    "ASSISTANT_OPENAI_OUTPUT": ("openai", "output"),
}


def _coerce(section: str, name: str, value: Any) -> Any:
    """A value (from the environment or a file) as the field's type."""
    kind = {f.name: f.type for f in fields(SECTIONS[section])}[name]
    if value is None:
        return None
    try:
        if "bool" in kind:
            if isinstance(value, str):
                return value.strip().lower() not in ("", "0", "false", "no", "off")
            return bool(value)
        if "int" in kind and "float" not in kind:
            if isinstance(value, str) and not value.strip():
                return None if "None" in kind else 0
            return int(value)
        if "float" in kind:
            return float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {section}.{name}: {value!r} is not a {kind}") from None
    if isinstance(value, str):
        value = value.strip()
        return value or (None if "None" in kind else value)
    return value


@dataclass(frozen=True)
class Settings:
    """The whole configuration: one section per pipeline stage, plus the page and servers."""

    index: IndexSettings = field(default_factory=IndexSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answering: AnsweringSettings = field(default_factory=AnsweringSettings)
    verification: VerificationSettings = field(default_factory=VerificationSettings)
    page: PageSettings = field(default_factory=PageSettings)
    openai: OpenAISettings = field(default_factory=OpenAISettings)

    def replace(self, **sections: Mapping[str, Any]) -> Settings:
        """A copy with some fields changed: ``replace(retrieval={"k": 4})``."""
        changed = {}
        for name, values in sections.items():
            if name not in SECTIONS:
                raise SettingsError(f"no settings section {name!r} ({', '.join(SECTIONS)})")
            current = getattr(self, name)
            known = {f.name for f in fields(current)}
            unknown = sorted(set(values) - known)
            if unknown:
                raise SettingsError(f"no setting {name}.{unknown[0]} (known: {', '.join(known)})")
            coerced = {k: _coerce(name, k, v) for k, v in values.items()}
            changed[name] = dataclasses.replace(current, **coerced)
        return dataclasses.replace(self, **changed)

    @classmethod
    def preset(cls, name: str, env: Mapping[str, str] | None = None) -> Settings:
        """A named set of settings over the environment's (``PRESETS``)."""
        if name not in PRESETS:
            raise SettingsError(f"no preset {name!r} (choose one of {', '.join(PRESETS)})")
        return cls.from_env({**(os.environ if env is None else env), "ASSISTANT_PRESET": name})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Defaults with the environment applied (``ENVIRONMENT`` lists what is read)."""
        env = os.environ if env is None else env
        base = cls()
        preset = env.get("ASSISTANT_PRESET", "").strip()
        if preset:
            if preset not in PRESETS:
                raise SettingsError(
                    f"ASSISTANT_PRESET={preset!r} is not a preset ({', '.join(PRESETS)})"
                )
            base = base.replace(**PRESETS[preset])
        sections: dict[str, dict[str, Any]] = {}
        for var, (section, name) in ENVIRONMENT.items():
            if var in env and env[var].strip():
                sections.setdefault(section, {})[name] = env[var]
        return base.replace(**sections)

    @classmethod
    def load(cls, path: str | Path, env: Mapping[str, str] | None = None) -> Settings:
        """The environment's settings with a TOML or JSON file applied over them."""
        path = Path(path)
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from None
        try:
            if path.suffix.lower() == ".toml":
                import tomllib

                data = tomllib.loads(raw)
            else:
                data = json.loads(raw)
        except ValueError as exc:
            raise SettingsError(f"settings file {path} is not valid: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise SettingsError(f"settings file {path}: expected {{section: {{name: value}}}}")
        return cls.from_env(env).replace(**data)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every setting, the API key masked: what a report records it ran with."""
        out = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        if out["openai"]["api_key"]:
            out["openai"]["api_key"] = "***"
        if out["index"]["chroma_token"]:
            out["index"]["chroma_token"] = "***"
        return out


#: Named settings (``Settings.preset``, ``python -m assistant.eval --preset``); their dev
#: figures are in the README's evaluation section.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    #: the defaults: the reader decides and chooses, beside the names, relation and
    #: footnote rules; the claim model checks
    "reader": {"answering": {"method": "reader"}},
    #: the rules choose, the reader can only stop them: best on the default article,
    #: answers most unanswerable questions on other documents
    "gated": {"answering": {"method": "gated"}},
    #: the hand-written answerer and claim rules, as before the models (fitted to the
    #: default article)
    "rules": {"answering": {"method": "rules"}, "verification": {"method": "rules"}},
}
