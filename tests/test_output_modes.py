"""Structured output negotiated per server: ``json_schema``, then ``json_object`` with the
schema, then the schema in the prompt; what a server accepted is remembered per base URL,
and a request the server calls invalid is never retried as if it were transient."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import model_free
from scripted_server import TEST_API_KEY, Reply, ScriptedServer, answer

from assistant.core import Assistant
from assistant.errors import BackendError
from assistant.openai_backend import SCHEMA, OpenAIBackend, forget_servers, parse_draft
from assistant.present import to_terminal
from index.document import Sentence

pytestmark = [pytest.mark.timeout(30), pytest.mark.fast]

PASSAGES = [
    Sentence(
        id="p-osf",
        index=0,
        block_index=0,
        section="body",
        start=0,
        end=60,
        text="The OSF has been operating in Kazakhstan since 1995.",
    )
]
FAITHFUL = answer(("The author says the OSF has worked there since 1995.", ["since 1995"]))
REFUSED_400 = (400, {"error": {"message": "response_format is not supported by this server"}})


@pytest.fixture(autouse=True)
def _fresh_memory() -> None:
    forget_servers()


def make(server: ScriptedServer, **options: object) -> OpenAIBackend:
    settings: dict = {"base_url": server.url, "api_key": TEST_API_KEY, "timeout": 3.0}
    settings.update(options)
    return OpenAIBackend(**settings)


def formats(server: ScriptedServer) -> list[str]:
    return [
        (r.body.get("response_format") or {}).get("type", "none")
        for r in server.history
        if r.method == "POST"
    ]


def test_json_schema_server_is_asked_once_per_question() -> None:
    with ScriptedServer() as server:
        server.enqueue_answer(FAITHFUL).enqueue_answer(FAITHFUL)
        backend = make(server)
        assert backend.label.endswith("output: json_schema (first answer will confirm)")
        first = backend.draft("Since when?", PASSAGES)
        second = backend.draft("Since when?", PASSAGES)
        assert formats(server) == ["json_schema", "json_schema"]
        assert first.output_mode == second.output_mode == "json_schema"
        assert backend.label.endswith("output: json_schema")


def test_llama_cpp_python_refusal_steps_down_once_and_is_remembered() -> None:
    """The server's HTTP 500 body says the request is invalid: not retried, no backoff."""
    with ScriptedServer(formats=("json_object", "text"), retry_after_ms=None) as server:
        server.enqueue_answer(FAITHFUL).enqueue_answer(FAITHFUL).enqueue_answer(FAITHFUL)
        backend = make(server, max_retries=2)
        draft = backend.draft("Since when?", PASSAGES)
        assert draft.status == "answered" and draft.output_mode == "json_object"
        assert formats(server) == ["json_schema", "json_object"]  # no retry of the refusal
        sent = server.history[1].body
        assert sent["response_format"] == {"type": "json_object", "schema": SCHEMA}
        assert json.dumps(SCHEMA) in sent["messages"][0]["content"]  # spelled out as well
        # the next question, and a new backend on the same server, go straight to it
        backend.draft("Since when?", PASSAGES)
        list(make(server).stream_draft("Since when?", PASSAGES))
        assert formats(server) == ["json_schema", "json_object", "json_object", "json_object"]
        assert backend.label.endswith("output: json_object")


def test_server_refusing_both_formats_gets_the_schema_in_the_prompt() -> None:
    with ScriptedServer(formats=("text",), refusal=REFUSED_400) as server:
        prose = "Here is the answer:\n```json\n" + json.dumps(FAITHFUL) + "\n```\nHope it helps!"
        server.enqueue(Reply(content=prose))
        draft = make(server).draft("Since when?", PASSAGES)
        assert formats(server) == ["json_schema", "json_object", "none"]
        assert draft.output_mode == "prompt"
        assert [c.quotes for c in draft.claims] == [["since 1995"]]
        assert "JSON Schema" in server.history[-1].body["messages"][0]["content"]


def test_invalid_request_that_is_not_about_the_format_fails_without_retry() -> None:
    body = {"error": {"message": "1 validation error: messages.0.content is too long"}}
    with ScriptedServer(retry_after_ms=None) as server:
        server.enqueue(Reply(status=500, body=body))
        backend = make(server, max_retries=2)
        with pytest.raises(BackendError, match="HTTP 500"):
            backend.draft("Since when?", PASSAGES)
        assert formats(server) == ["json_schema"]  # one request: neither retried nor demoted
        assert backend.output_mode == "json_schema"


def test_transient_server_error_is_still_retried() -> None:
    with ScriptedServer() as server:
        server.enqueue_error(500, "upstream connection reset").enqueue_answer(FAITHFUL)
        draft = make(server, max_retries=2).draft("Since when?", PASSAGES)
        assert draft.status == "answered"
        assert formats(server) == ["json_schema", "json_schema"]


def test_a_fixed_output_setting_skips_the_negotiation() -> None:
    with ScriptedServer(formats=("json_object", "text")) as server:
        server.enqueue_answer(FAITHFUL)
        backend = make(server)
        backend.output = "json_object"
        assert backend.label.endswith("output: json_object")
        backend.draft("Since when?", PASSAGES)
        assert formats(server) == ["json_object"]
    with ScriptedServer(formats=("json_object",)) as server:
        backend = make(server, max_retries=0)
        backend.output = "json_schema"  # told to: a refusal is an error, not a step down
        with pytest.raises(BackendError, match="HTTP 500"):
            backend.draft("Since when?", PASSAGES)


def test_unknown_output_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_OPENAI_OUTPUT", "xml")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    with pytest.raises(BackendError, match="'xml' is not one of auto, json_schema"):
        OpenAIBackend()


def test_token_cap_is_sent_and_a_cut_off_answer_keeps_its_finished_claims() -> None:
    two = answer(("Claim one.", ["since 1995"]), ("Claim two.", ["The OSF"]))
    text = json.dumps(two)
    cut = text[: text.index("Claim two") + 4]
    with ScriptedServer() as server:
        server.enqueue(Reply(content=cut, finish_reason="length"))
        server.enqueue(Reply(content=cut, finish_reason="length"))
        backend = make(server)
        backend.max_tokens = 64
        draft = backend.draft("Since when?", PASSAGES)
        assert server.history[0].body["max_tokens"] == 64
        assert [c.text for c in draft.claims] == ["Claim one."]
        assert any("cut off at the token cap" in n for n in draft.notices)
        *_deltas, streamed = list(backend.stream_draft("Since when?", PASSAGES))
        assert streamed.claims == draft.claims and streamed.notices == draft.notices


def test_lenient_parse_takes_the_first_json_object_and_ignores_trailing_prose() -> None:
    text = 'Sure. {"note": 1} then ' + json.dumps(FAITHFUL) + " and that is all {not json"
    draft = parse_draft(text)  # the first object that is an answer, prose around it ignored
    assert draft.status == "answered" and len(draft.claims) == 1
    with pytest.raises(BackendError, match="status"):
        parse_draft('Sure. {"note": 1} and {"other": 2}')  # no answer in it: no guessing
    with pytest.raises(BackendError, match="not valid JSON"):
        parse_draft("The OSF arrived in 1995.")


def test_the_mode_shows_in_the_answer_and_the_terminal(tmp_path: Path) -> None:
    doc = tmp_path / "osf.txt"
    doc.write_text("The OSF has been operating in Kazakhstan since 1995.\n", encoding="utf-8")
    with ScriptedServer(formats=("json_object", "text")) as server:
        server.enqueue_answer(answer(("The author says the OSF arrived in 1995.", ["since 1995"])))
        settings = model_free(tmp_path / "cache").replace(
            openai={"base_url": server.url, "api_key": TEST_API_KEY}
        )
        bot = Assistant(doc, backend="openai", settings=settings)
        result = bot.ask("Since when has the OSF been there?")
        assert result.backend == "openai" and result.output_mode == "json_object"
        assert result.to_full_dict()["output_mode"] == "json_object"
        assert "backend: openai (json_object output)" in to_terminal(result)
        assert bot.backend_label.endswith("output: json_object")


@pytest.mark.parametrize(
    ("cut_after", "texts", "quotes"),
    [
        ('"Claim two.", "quotes": ["The O', ["Claim one.", "Claim two."], [["since 1995"], []]),
        (
            '"Claim two.", "quotes": ["The OSF"',
            ["Claim one.", "Claim two."],
            [["since 1995"], ["The OSF"]],
        ),
        ('"Claim tw', ["Claim one."], [["since 1995"]]),
    ],
    ids=["inside-a-quote", "after-a-quote", "inside-a-claim"],
)
def test_cut_off_answers_keep_what_they_finished(
    cut_after: str, texts: list[str], quotes: list[list[str]]
) -> None:
    head = '{"status": "answered", "claims": [{"text": "Claim one.", "quotes": ["since 1995"]}, '
    draft = parse_draft(head + '{"text": ' + cut_after, cut_off=True)
    assert [c.text for c in draft.claims] == texts
    assert [c.quotes for c in draft.claims] == quotes


def test_cut_off_before_any_claim_is_an_error() -> None:
    for text in ('{"status": "answ', '{"status": "answered", "claims": [{"text": "Half a cl'):
        with pytest.raises(BackendError, match="cut off"):
            parse_draft(text, cut_off=True)
    draft = parse_draft('{"status": "not_in_document", "claims": [', cut_off=True)
    assert draft.status == "not_in_document" and draft.claims == []
