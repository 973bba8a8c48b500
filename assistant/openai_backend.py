"""Draft answers with an OpenAI-compatible chat model, returning unverified ``Draft`` objects.

Why the ``openai`` client directly and not LangChain: we need exact control of structured
outputs with a strict JSON schema, streaming deltas, refusals (``message.refusal``), token
usage (including the final usage chunk of a stream), and telling 429s, 5xx errors and
timeouts apart.  LangChain's wrappers hide or reshape all of those.

Every failure becomes a ``BackendError`` with a short human-readable reason; the caller
shows it as a notice and falls back to the offline answerer.  No ``openai`` exception
escapes, and the API key never enters a prompt, a log line or an error message.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import openai

from assistant.answerers import Answerer, register
from assistant.types import Draft, DraftClaim, Usage
from index.document import Passage
from index.errors import BackendError, PromptError
from index.settings import OpenAISettings, Settings
from prompts import render

if TYPE_CHECKING:
    from assistant.retrieve import Retrieval

log = logging.getLogger(__name__)

STATUSES = ("answered", "not_in_document")

#: The only shape the model may answer in (OpenAI structured outputs, strict mode).
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": list(STATUSES)},
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "quotes": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["text", "quotes"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["status", "claims"],
    "additionalProperties": False,
}

RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "grounded_answer", "strict": True, "schema": SCHEMA},
}

#: How the answer's JSON is asked for, strictest first.  ``json_schema``: OpenAI, vLLM,
#: llama.cpp's ``llama-server``, recent Ollama.  ``json_object`` with the schema beside it:
#: llama-cpp-python's server (grammar-constrained).  ``prompt``: the schema in the system
#: prompt and the first JSON object of the reply parsed, for servers that take neither.
OUTPUT_MODES = ("json_schema", "json_object", "prompt")
_FORMATS: dict[str, dict[str, Any] | None] = {
    "json_schema": RESPONSE_FORMAT,
    "json_object": {"type": "json_object", "schema": SCHEMA},
    "prompt": None,
}

# What each server (by base URL) accepted, for the life of the process: a server that
# refused ``json_schema`` once is not asked again.
_SERVER_MODES: dict[str, str] = {}
_CONFIRMED: set[str] = set()
_MODES_LOCK = threading.Lock()

#: An error body that says the request itself is wrong (a 500 that is not transient, as
#: llama-cpp-python answers a ``response_format`` it does not know): never retried.
_INVALID_REQUEST = re.compile(
    r"input should be|validation error|extra inputs are not permitted|invalid request"
    r"|not supported|unsupported|unrecognized|unknown (?:field|parameter)",
    re.IGNORECASE,
)
#: An error body that blames the output format: step down to the next mode.
_FORMAT_REFUSED = re.compile(
    r"response_format|json_schema|json_object|structured output|guided|grammar"
    r"|input should be 'text'",
    re.IGNORECASE,
)

#: List prices in USD per 1M (input, output) tokens.  Approximate and dated; override or
#: extend them with ``OpenAIBackend(prices=...)``.  Unknown models get ``cost_usd=None``.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}

# Our prompt delimiters; data that contains them is defanged so it cannot close a block.
_DELIMITER = re.compile(
    r"<(/?)(passages|passage|question|conversation|latest_message)\b", re.IGNORECASE
)
_SNAPSHOT = re.compile(r"\d{4}(?:-\d{2}-\d{2})?")
_REWRITE_PREFIX = re.compile(r"^\s*(?:standalone question|question)\s*:\s*", re.IGNORECASE)
_QUOTE_PAIRS = ('""', "''", "“”", "‘’", "«»")


def price_for(model: str, table: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    """USD per 1M (input, output) tokens for ``model``; dated snapshots use their base price.

    ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``; ``gpt-4o-audio-preview`` is not
    priced as ``gpt-4o``, because only a date suffix is recognised.
    """
    if model in table:
        return table[model]
    best: str | None = None
    for name in table:
        rest = model[len(name) + 1 :] if model.startswith(name + "-") else ""
        if rest and _SNAPSHOT.fullmatch(rest) and (best is None or len(name) > len(best)):
            best = name
    return table[best] if best else None


def _defang(text: str) -> str:
    """Neutralise our delimiter tags inside data, so data cannot end its block early."""
    return _DELIMITER.sub(lambda m: "‹" + m.group(1) + m.group(2), text)


def _turns(
    history: Sequence[dict] | None,
    limit: int = OpenAISettings.history_chars,
    keep: int = OpenAISettings.history_turns,
) -> list[dict[str, str]]:
    """The last few user/assistant turns, shortened: context for references, not a source."""
    turns: list[dict[str, str]] = []
    for turn in list(history or [])[-keep:]:
        if not isinstance(turn, dict):
            continue
        role, content = turn.get("role"), turn.get("content")
        if role not in ("user", "assistant") or not isinstance(content, str):
            continue
        content = " ".join(content.split())
        if len(content) > limit:
            content = content[: limit - 1].rstrip() + "…"
        turns.append({"role": role, "content": _defang(content)})
    return turns


def _is_corpus(passages: Sequence[Passage], titles: Mapping[str, str] | None) -> bool:
    """Whether the prompt must name each passage's document: the caller answers from a
    corpus (it gave titles), or the passages come from more than one document."""
    return titles is not None or len({p.document_id for p in passages}) > 1


def _title(text: str, limit: int = OpenAISettings.title_chars) -> str:
    """A document title fit for a passage attribute: one line, no double quotes (they
    would end the attribute), our delimiters defanged, and not endless."""
    text = _defang(" ".join(text.split())).replace('"', "'")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _passage_vars(
    passages: Sequence[Passage],
    titles: Mapping[str, str] | None = None,
    title_chars: int = OpenAISettings.title_chars,
) -> list[dict[str, object]]:
    """The template's view of each passage.  Over a corpus each one names its document
    (title and id), so the model can say which document says what; one document's
    passages do not, and its prompt stays as it was."""
    corpus = _is_corpus(passages, titles)
    return [
        {
            "id": p.id,
            "document_id": p.document_id if corpus else "",
            "document": _title((titles or {}).get(p.document_id, ""), title_chars)
            if corpus
            else "",
            "section": p.section,
            "footnotes": ", ".join(str(n) for n in p.footnotes),
            "reader": p.section == "comment",
            "text": _defang(p.text),
        }
        for p in passages
    ]


def forget_servers() -> None:
    """Forget what every server accepted (the next request negotiates again)."""
    with _MODES_LOCK:
        _SERVER_MODES.clear()
        _CONFIRMED.clear()


def _first_object(text: str) -> Any:
    """The first JSON object in ``text`` that has a ``status`` (else the first object at
    all), with prose or code fences around it ignored; None when there is none."""
    decoder = json.JSONDecoder(strict=False)
    first = None
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict) and "status" in value:
            return value
        first = value if first is None else first
        start = text.find("{", end if isinstance(value, dict) else start + 1)
    return first


def _salvage(text: str) -> dict[str, Any] | None:
    """What a cut-off answer finished: the JSON up to its last complete value, with the
    brackets it left open closed.  A string cut in the middle is dropped, never kept as a
    half-sentence; None when not even an object with a finished value survives."""
    stack: list[str] = []
    cuts: list[tuple[int, str]] = []  # (end of a complete value, the closers it needs)
    in_string = escape = False
    is_key = False
    for i, ch in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
                if not is_key:
                    cuts.append((i + 1, "".join(reversed(stack))))
            continue
        if ch == '"':
            in_string = True
            # a string in an object is a key unless a ':' came after the last '{' or ','
            is_key = bool(stack) and stack[-1] == "}" and _expects_key(text, i)
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
            cuts.append((i + 1, "".join(reversed(stack))))
    for cut, closers in reversed(cuts):
        try:
            value = json.loads(text[:cut] + closers, strict=False)
        except json.JSONDecodeError:
            continue
        return value if isinstance(value, dict) else None
    return None


def _expects_key(text: str, at: int) -> bool:
    """Whether the string starting at ``at`` inside an object is a key: the last
    structural character before it is ``{`` or ``,``."""
    j = at - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    return j >= 0 and text[j] in "{,"


def parse_draft(
    content: str, usage: Usage | None = None, *, cut_off: bool = False, mode: str = ""
) -> Draft:
    """Validate the model's JSON into a ``Draft``; malformed claims are dropped, not guessed.

    Lenient where servers differ: the first JSON object of the text is taken (prose after
    it ignored).  A reply ``cut_off`` at the token cap keeps the claims it completed.
    """
    notices: list[str] = []
    try:
        data = json.loads(content, strict=False)  # tolerate raw newlines inside strings
    except (json.JSONDecodeError, TypeError):
        data = None
        if isinstance(content, str) and not cut_off:
            data = _first_object(content)
        if data is None and cut_off:
            data = _salvage(content)
            claims = data.get("claims") if data else None
            if (
                data is None
                or data.get("status") not in STATUSES
                or (data.get("status") == "answered" and not claims)
            ):
                raise BackendError(
                    "OpenAI backend: the answer was cut off (finish_reason=length) before "
                    "it finished a claim"
                ) from None
            notices.append(
                f"the model's answer was cut off at the token cap; kept the "
                f"{len(claims or [])} claim(s) it finished"
            )
        elif data is None:
            raise BackendError("OpenAI backend: the model's answer was not valid JSON") from None
    if not isinstance(data, dict):
        raise BackendError("OpenAI backend: the model's answer was not a JSON object")
    status = data.get("status")
    if status not in STATUSES:
        raise BackendError(f"OpenAI backend: unexpected answer status {str(status)[:40]!r}")
    raw_claims = data.get("claims", [])
    if not isinstance(raw_claims, list):
        raise BackendError("OpenAI backend: 'claims' in the model's answer is not a list")
    claims: list[DraftClaim] = []
    for item in raw_claims:
        if not isinstance(item, dict):
            continue
        if cut_off and "quotes" not in item:
            item = {**item, "quotes": []}  # cut off after its text: kept, to be unsupported
        text, quotes = item.get("text"), item.get("quotes")
        if not isinstance(text, str) or not text.strip() or not isinstance(quotes, list):
            continue
        claims.append(DraftClaim(text.strip(), [q for q in quotes if isinstance(q, str) and q]))
    if len(claims) < len(raw_claims):
        notices.append(f"dropped {len(raw_claims) - len(claims)} malformed claim(s) from the model")
    if status == "not_in_document" and claims:
        notices.append("the model said 'not in the document' but offered claims; ignored them")
        claims = []
    return Draft(
        status=status,
        claims=claims,
        backend="openai",
        notices=notices,
        usage=usage,
        output_mode=mode,
    )


class ClaimTextStream:
    """Incrementally pull the ``"text"`` string values out of JSON as it arrives.

    Streaming shows the user readable prose (the claim texts as they grow), not raw JSON.
    Tolerates any chunking, including chunks that split escapes such as ``\\u00e9``.
    Successive claim texts are separated by a single space.
    """

    def __init__(self, key: str = "text") -> None:
        self.key = key
        self._stack: list[str] = []  # "{" or "[" per open container
        self._keys: list[str | None] = []  # last key seen in each open object
        self._expect_key = False
        self._in_string = False
        self._is_key = False
        self._emitting = False
        self._escape = False
        self._raw: list[str] = []  # raw characters of the current string, quotes excluded
        self._sent = 0  # decoded characters of the current value already emitted
        self._values = 0  # how many text values have started

    def feed(self, chunk: str) -> str:
        """Consume a chunk of JSON; return the newly available text (possibly empty)."""
        out: list[str] = []
        for ch in chunk:
            if self._in_string:
                self._string_char(ch, out)
            else:
                self._structural_char(ch, out)
        if self._emitting:
            out.append(self._pending())
        return "".join(out)

    def _structural_char(self, ch: str, out: list[str]) -> None:
        if ch == "{":
            self._stack.append("{")
            self._keys.append(None)
            self._expect_key = True
        elif ch == "[":
            self._stack.append("[")
        elif ch in "}]":
            if self._stack and self._stack.pop() == "{":
                self._keys.pop()
            self._expect_key = False
        elif ch == ":":
            self._expect_key = False
        elif ch == ",":
            self._expect_key = bool(self._stack) and self._stack[-1] == "{"
        elif ch == '"':
            in_object = bool(self._stack) and self._stack[-1] == "{"
            self._in_string, self._raw, self._sent, self._escape = True, [], 0, False
            self._is_key = in_object and self._expect_key
            self._emitting = in_object and not self._is_key and self._keys[-1] == self.key
            if self._emitting:
                if self._values:
                    out.append(" ")
                self._values += 1

    def _string_char(self, ch: str, out: list[str]) -> None:
        if self._escape:
            self._escape = False
        elif ch == "\\":
            self._escape = True
        elif ch == '"':
            if self._emitting:
                out.append(self._pending(final=True))
            elif self._is_key and self._keys:
                self._keys[-1] = _decode("".join(self._raw))
            self._in_string = self._emitting = False
            return
        self._raw.append(ch)

    def _pending(self, final: bool = False) -> str:
        """Decoded text of the current value not yet emitted, holding back partial escapes."""
        raw = "".join(self._raw)
        if not final:
            cut = raw.rfind("\\")
            if cut != -1 and (len(raw) - cut <= 1 or (raw[cut + 1] == "u" and len(raw) - cut < 6)):
                # Count the backslashes: an even run is an escaped backslash, not an escape.
                run = len(raw[:cut]) - len(raw[:cut].rstrip("\\"))
                if run % 2 == 0:
                    raw = raw[:cut]
        text = _decode(raw)
        if not final and text and "\ud800" <= text[-1] <= "\udbff":
            text = text[:-1]  # a high surrogate waits for its pair
        new, self._sent = text[self._sent :], max(self._sent, len(text))
        return new


class SecretFilter:
    """Masks a secret in text that arrives in pieces: the tail that could be the start of
    the secret is held back until the next piece says what it is."""

    def __init__(self, secret: str, mask: str = "***") -> None:
        self.secret, self.mask, self._held = secret, mask, ""

    def feed(self, text: str) -> str:
        if not self.secret:
            return text
        held = (self._held + text).replace(self.secret, self.mask)
        keep = 0  # the longest tail that is a prefix of the secret
        for n in range(min(len(self.secret) - 1, len(held)), 0, -1):
            if self.secret.startswith(held[-n:]):
                keep = n
                break
        self._held = held[len(held) - keep :] if keep else ""
        return held[: len(held) - keep]

    def flush(self) -> str:
        out, self._held = self._held, ""
        return out


def _decode(raw: str) -> str:
    try:
        return json.loads('"' + raw + '"', strict=False)
    except json.JSONDecodeError:
        return raw


def _error_text(exc: openai.APIStatusError) -> str:
    """The error's body as text (JSON bodies included), for telling errors apart."""
    parts = [str(exc.message or "")]
    try:
        parts.append(exc.response.text)
    except Exception:  # a body we cannot read says nothing
        parts.append(str(exc.body or ""))
    return " ".join(parts)


class _Client(openai.OpenAI):
    """The ``openai`` client, except that a 500 whose body says the request is invalid is
    not retried: sending the same request again cannot change a deterministic answer."""

    def _should_retry(self, response: Any) -> bool:
        if response.status_code >= 500:
            try:
                body = response.read().decode("utf-8", "replace")[:4000]
            except Exception:  # unreadable: let the client decide
                body = ""
            if _INVALID_REQUEST.search(body):
                return False
        return super()._should_retry(response)


@register("openai")
class OpenAIBackend(Answerer):
    """Drafts grounded answers with a chat model constrained to ``SCHEMA``.

    Retries (429, 5xx, timeouts) use the client's own exponential backoff, bounded by
    ``max_retries``; ``timeout`` bounds each attempt.  Both are small by default so a dead
    endpoint turns into a visible notice quickly instead of a hung chat.  Settings come
    from ``settings.openai`` (default: the environment's); keyword arguments override them.
    """

    name = "openai"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        prices: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        cfg = (settings or Settings.from_env()).openai
        self.settings = cfg
        self.model = model or cfg.model
        self.timeout = cfg.timeout if timeout is None else timeout
        self.max_retries = cfg.max_retries if max_retries is None else max_retries
        self.max_tokens = cfg.max_tokens
        if cfg.output not in ("auto", *OUTPUT_MODES):
            raise BackendError(
                f"OpenAI backend: output {cfg.output!r} is not one of auto, "
                + ", ".join(OUTPUT_MODES)
            )
        self.output = cfg.output
        self.prices = {**PRICES, **(prices or {})}
        base_url = base_url or cfg.base_url
        key = api_key or cfg.api_key
        if not key:
            raise BackendError(
                "OpenAI backend: no API key; set OPENAI_API_KEY or pass api_key "
                "(or use the offline answerer)"
            )
        self._secret = key
        try:
            self._client = _Client(
                api_key=key, base_url=base_url, timeout=self.timeout, max_retries=self.max_retries
            )
        except (openai.OpenAIError, ValueError, TypeError) as exc:
            raise BackendError(
                f"OpenAI backend: cannot create the client: {self._redact(str(exc))[:200]}"
            ) from None
        self.base_url = str(self._client.base_url)

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def label(self) -> str:
        mode = self.output_mode
        known = self.output != "auto" or self.base_url in _CONFIRMED
        return f"OpenAI-compatible model {self.model} · output: {mode}" + (
            "" if known else " (first answer will confirm)"
        )

    @property
    def output_mode(self) -> str:
        """How this server is asked for JSON: the setting, or what it last accepted."""
        if self.output != "auto":
            return self.output
        with _MODES_LOCK:
            return _SERVER_MODES.get(self.base_url, OUTPUT_MODES[0])

    def _create(self, messages: list[dict[str, str]], **extra: Any) -> tuple[str, Any]:
        """One chat request in this server's output mode.  A server that refuses the mode
        (an error that blames the format) is asked once in the next one, and that is
        remembered for its base URL; any other error becomes a ``BackendError``."""
        while True:
            mode = self.output_mode
            args: dict[str, Any] = {"model": self.model, "temperature": 0, **extra}
            if self.max_tokens:
                args["max_tokens"] = self.max_tokens
            if _FORMATS[mode] is not None:
                args["response_format"] = _FORMATS[mode]
            try:
                response = self._client.chat.completions.create(
                    messages=self._with_format(messages, mode),  # type: ignore[arg-type]
                    **args,
                )
            except openai.APIStatusError as exc:
                step = OUTPUT_MODES.index(mode) + 1
                if self.output == "auto" and step < len(OUTPUT_MODES) and self._refuses(exc):
                    log.warning(
                        "%s refused output mode %s (HTTP %s); using %s from now on",
                        self.base_url,
                        mode,
                        exc.status_code,
                        OUTPUT_MODES[step],
                    )
                    with _MODES_LOCK:
                        _SERVER_MODES[self.base_url] = OUTPUT_MODES[step]
                    continue
                self._raise_api_error(exc)
            except openai.OpenAIError as exc:
                self._raise_api_error(exc)
            with _MODES_LOCK:
                _SERVER_MODES.setdefault(self.base_url, mode)
                _CONFIRMED.add(self.base_url)
            return mode, response

    @staticmethod
    def _refuses(exc: openai.APIStatusError) -> bool:
        """Whether an error says the server does not take the requested output format."""
        return exc.status_code in (400, 404, 415, 422, 500, 501) and bool(
            _FORMAT_REFUSED.search(_error_text(exc))
        )

    def _with_format(self, messages: list[dict[str, str]], mode: str) -> list[dict[str, str]]:
        """Where the server cannot enforce the schema, the system prompt spells it out."""
        if mode == "json_schema":
            return messages
        try:
            rule = render("answer_format", schema=json.dumps(SCHEMA, indent=None))
        except PromptError as exc:
            raise BackendError(f"OpenAI backend: {exc}") from None
        first, *rest = messages
        return [{**first, "content": first["content"] + "\n\n" + rule}, *rest]

    def answer(
        self, question: str, retrieval: Retrieval, history: Sequence[dict] = ()
    ) -> Iterator[str | Draft]:
        """The model's draft from the retrieved passages; over several documents the prompt
        names each passage's document."""
        titles = retrieval.titles if retrieval.documents > 1 else None
        passages = [h.passage for h in retrieval.hits]
        yield from self.stream_draft(question, passages, list(history), titles=titles)

    def rewrite(self, question: str, history: Sequence[dict]) -> str | None:
        rewritten, _usage = self.rewrite_question(question, list(history))
        return rewritten.strip() or None

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    # -- public API ----------------------------------------------------------------------

    def draft(
        self,
        question: str,
        passages: list[Passage],
        history: list[dict] | None = None,
        titles: Mapping[str, str] | None = None,
    ) -> Draft:
        """One request; the model's JSON parsed into a ``Draft`` with usage and cost.

        ``titles`` (document id -> title) says the passages come from a corpus: the prompt
        then names each passage's document and asks for one document per claim.
        """
        messages = self._answer_messages(question, passages, history, titles)
        mode, response = self._create(messages)
        usage = self._usage(getattr(response, "usage", None), getattr(response, "model", None))
        content, cut_off = self._message_content(response)
        content = self._redact(content)  # a model never shows the key
        draft = parse_draft(content, usage, cut_off=cut_off, mode=mode)
        log.info(
            "openai draft: model=%s status=%s claims=%d tokens=%d+%d",
            usage.model,
            draft.status,
            len(draft.claims),
            usage.prompt_tokens,
            usage.completion_tokens,
        )
        return draft

    def stream_draft(
        self,
        question: str,
        passages: list[Passage],
        history: list[dict] | None = None,
        titles: Mapping[str, str] | None = None,
    ) -> Iterator[str | Draft]:
        """Yield readable text deltas (the claim texts as they grow), then the parsed Draft.

        The final ``Draft`` equals what ``draft`` would return for the same response.
        Errors surface as ``BackendError`` while iterating.  ``titles`` as for ``draft``.
        """
        messages = self._answer_messages(question, passages, history, titles)
        mode, stream = self._create(messages, stream=True, stream_options={"include_usage": True})
        parts: list[str] = []
        refusal: list[str] = []
        finish: str | None = None
        raw_usage: Any = None
        model: str | None = None
        extractor = ClaimTextStream()
        masked = SecretFilter(self._secret)  # a model (or a proxy) echoing the key shows "***"
        try:
            with stream:
                for chunk in stream:
                    model = getattr(chunk, "model", None) or model
                    raw_usage = getattr(chunk, "usage", None) or raw_usage
                    for choice in getattr(chunk, "choices", None) or []:
                        if getattr(choice, "index", 0) != 0:
                            continue
                        delta = choice.delta
                        if getattr(delta, "refusal", None):
                            refusal.append(delta.refusal)
                        if getattr(delta, "content", None):
                            parts.append(delta.content)
                            text = masked.feed(extractor.feed(delta.content))
                            if text:
                                yield text
                        finish = choice.finish_reason or finish
        except openai.OpenAIError as exc:
            self._raise_api_error(exc)
        except (AttributeError, TypeError, ValueError):
            raise BackendError("OpenAI backend: unexpected streaming response shape") from None
        usage = self._usage(raw_usage, model)
        if refusal:
            self._raise_refusal("".join(refusal))
        cut_off = self._check_finish(finish)
        if not parts:
            raise BackendError("OpenAI backend: the model streamed no answer")
        tail = masked.flush()
        if tail:
            yield tail
        yield parse_draft(self._redact("".join(parts)), usage, cut_off=cut_off, mode=mode)

    def rewrite_question(self, question: str, history: list[dict]) -> tuple[str, Usage]:
        """A follow-up plus earlier turns -> a standalone question (no request without history).

        Retrieval needs a question that makes sense alone ("and what about Belarus?" does
        not), so the model resolves references; it must not answer or add facts.
        """
        turns = _turns(history, 2 * self.settings.history_chars, self.settings.history_turns)
        if not turns:
            return question, Usage(model=self.model)
        try:
            prompt = render("rewrite", question=_defang(question), history=turns)
        except PromptError as exc:
            raise BackendError(f"OpenAI backend: {exc}") from None
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=0,
                **({"max_tokens": min(self.max_tokens, 200)} if self.max_tokens else {}),
            )
        except openai.OpenAIError as exc:
            self._raise_api_error(exc)
        usage = self._usage(getattr(response, "usage", None), getattr(response, "model", None))
        text, _cut_off = self._message_content(response)
        text = text.strip()
        text = _REWRITE_PREFIX.sub("", text.splitlines()[0] if text else "").strip()
        if len(text) >= 2 and text[0] + text[-1] in _QUOTE_PAIRS:
            text = text[1:-1].strip()
        if not text:
            raise BackendError("OpenAI backend: the model returned an empty rewritten question")
        log.info("openai rewrite: %d turn(s) of history -> standalone question", len(turns))
        return text, usage

    # -- helpers ---------------------------------------------------------------------------

    def _answer_messages(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[dict] | None,
        titles: Mapping[str, str] | None = None,
    ) -> list[dict[str, str]]:
        """System rules (fixed per mode: one document or a corpus, never shaped by data) +
        one user message holding the delimited data blocks."""
        corpus = _is_corpus(passages, titles)
        try:
            system = render("answer_system", corpus=corpus)
            user = render(
                "answer_user",
                corpus=corpus,
                question=_defang(question),
                passages=_passage_vars(passages, titles, self.settings.title_chars),
                history=_turns(history, self.settings.history_chars, self.settings.history_turns),
            )
        except PromptError as exc:
            raise BackendError(f"OpenAI backend: {exc}") from None
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _usage(self, raw: Any, model: str | None) -> Usage:
        """Token counts and cost; cost stays None when the price or the counts are unknown."""
        name = model or self.model
        prompt = getattr(raw, "prompt_tokens", None)
        completion = getattr(raw, "completion_tokens", None)
        if not isinstance(prompt, int) or not isinstance(completion, int):
            return Usage(model=name)
        price = price_for(self.model, self.prices) or price_for(name, self.prices)
        cost = None
        if price is not None:
            cost = (prompt * price[0] + completion * price[1]) / 1_000_000
        return Usage(prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost, model=name)

    def _message_content(self, response: Any) -> tuple[str, bool]:
        """The first choice's text and whether it was cut off at the token cap; a
        BackendError for refusals, filtered answers and emptiness."""
        try:
            choices = response.choices
            if not choices:
                raise BackendError("OpenAI backend: the response had no choices")
            choice = choices[0]
            message = choice.message
            refusal, content, finish = message.refusal, message.content, choice.finish_reason
        except (AttributeError, TypeError, IndexError):
            raise BackendError("OpenAI backend: unexpected response shape") from None
        if refusal:
            self._raise_refusal(refusal)
        cut_off = self._check_finish(finish)
        if not isinstance(content, str) or not content.strip():
            raise BackendError("OpenAI backend: the model returned an empty answer")
        return content, cut_off

    @staticmethod
    def _check_finish(finish: str | None) -> bool:
        """Whether the answer was cut off at the token cap (its finished claims are kept);
        a BackendError when the content filter withheld it."""
        if finish == "content_filter":
            raise BackendError("OpenAI backend: the answer was withheld by the content filter")
        return finish == "length"

    def _raise_refusal(self, refusal: str) -> NoReturn:
        short = " ".join(self._redact(refusal).split())[:160]
        raise BackendError(f"OpenAI backend: the model refused to answer: {short}")

    def _raise_api_error(self, exc: openai.OpenAIError) -> NoReturn:
        """Map an ``openai`` exception to a short, key-free BackendError (never re-raise it)."""
        retries = f" after {self.max_retries} retries" if self.max_retries else ""
        if isinstance(exc, openai.APITimeoutError):
            reason = f"the model did not answer within {self.timeout:g} s (timeout){retries}"
        elif isinstance(exc, openai.APIConnectionError):
            reason = f"cannot reach the model API at {self.base_url}{retries}"
        elif isinstance(exc, openai.AuthenticationError):
            reason = "authentication failed (HTTP 401); check OPENAI_API_KEY"
        elif isinstance(exc, openai.PermissionDeniedError):
            reason = "permission denied by the model API (HTTP 403)"
        elif isinstance(exc, openai.RateLimitError):
            reason = f"rate limit reached (HTTP 429){retries}"
        elif isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
            reason = f"model API server error (HTTP {exc.status_code}){retries}"
            reason += self._detail(exc)
        elif isinstance(exc, openai.APIStatusError):
            reason = f"the model API rejected the request (HTTP {exc.status_code})"
            reason += self._detail(exc)
        else:
            reason = f"model API error ({type(exc).__name__})"
        log.warning("openai backend failed: %s", reason)
        raise BackendError(f"OpenAI backend: {reason}") from None

    def _detail(self, exc: openai.APIStatusError) -> str:
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return ""
        return ": " + " ".join(self._redact(message).split())[:200]

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text
