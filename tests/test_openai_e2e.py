"""The OpenAI backend end to end: scripted server over real HTTP -> Assistant -> verifier."""

from __future__ import annotations

import pytest
from scripted_server import TEST_API_KEY, answer

from assistant import Assistant
from assistant.openai_backend import OpenAIBackend
from assistant.types import Answer

pytest_plugins = ["conftest_openai"]

INJURED = (
    "Government buildings were stormed and assaulted in several cities, including the "
    "southern towns of Shymkent and Taraz, with over 100 police injured.[9]"
)


@pytest.fixture
def llm_bot(openai_env, bot) -> Assistant:
    """An OpenAI-backed assistant sharing the session's loaded index and model."""
    b = bot.with_answerer(OpenAIBackend(timeout=3.0, max_retries=1))
    return b


def test_default_backend_follows_the_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert Assistant().backend_name == "extractive"
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    assert Assistant().backend_name == "openai"
    assert Assistant(backend="extractive").backend_name == "extractive"


def test_faithful_answer_is_verified_and_supported(llm_bot, openai_env):
    openai_env.enqueue(
        answer(
            ("The author writes that over 100 police were injured.", ["over 100 police injured"])
        )
    )
    a = llm_bot.ask("How many police officers were injured?")
    d = a.to_dict()
    assert d["backend"] == "openai" and d["status"] == "answered"
    assert d["claims"] == [
        {
            "text": "The author writes that over 100 police were injured.",
            "supported": True,
            "quotes": [0],
        }
    ]
    q = d["quotes"][0]
    assert llm_bot.document.text[q["start"] : q["end"]] == q["text"]
    assert q["footnotes"] == [9] and q["section"] == "body"
    assert "footnote 9" in d["text"] and "not included" in d["text"]
    body = openai_env.history[-1].raw.decode()
    assert TEST_API_KEY not in body
    prompt = " ".join(m["content"] for m in openai_env.history[-1].messages)
    assert "verbatim" in prompt and "not_in_document" in prompt
    ids = [h.passage.id for h in llm_bot.retrieve("How many police officers were injured?").hits]
    assert all(pid in prompt for pid in ids)


def test_fabricated_quote_is_removed_and_claim_marked(llm_bot, openai_env):
    openai_env.enqueue(
        answer(
            (
                "The author says 300 protesters were killed by police.",
                ["300 protesters were killed"],
            ),
            ("The author says over 100 police were injured.", ["over 100 police injured"]),
        )
    )
    a = llm_bot.ask("What happened to the police?")
    assert [c.supported for c in a.claims] == [False, True]
    assert a.claims[0].quotes == ()
    assert "[unsupported]" in a.text
    assert any("could not be found" in n for n in a.notices)
    assert all("300" not in q.text for q in a.quotes)


def test_straight_quotes_repaired_to_documents_span(llm_bot, openai_env):
    offered = 'citing "a serious and direct security threat to citizens"'
    openai_env.enqueue(
        answer(("The author says Tokayev cited a security threat to citizens.", [offered]))
    )
    a = llm_bot.ask("Why did Tokayev announce a state of emergency?")
    q = a.quotes[0]
    assert "“a serious and direct security threat to citizens”" in q.text
    assert llm_bot.document.text[q.start : q.end] == q.text


def test_changed_number_is_unsupported(llm_bot, openai_env):
    openai_env.enqueue(
        answer(("The article says 500 police were injured.", ["with over 100 police injured"]))
    )
    a = llm_bot.ask("How many police were injured?")
    assert a.claims[0].supported is False
    assert "[unsupported]" in a.text


@pytest.mark.parametrize("script", ["malformed", "http500", "http429", "slow"])
def test_failures_fall_back_to_offline_with_notice(llm_bot, openai_env, script):
    if script == "malformed":
        openai_env.enqueue_content('{"status": "answered", "claims": [')
    elif script == "http500":
        openai_env.enqueue_error(500, "boom").enqueue_error(500, "boom")
    elif script == "http429":
        openai_env.enqueue_rate_limit(times=2)
    else:
        openai_env.enqueue_delay(5, answer()).enqueue_delay(5, answer())
    a = llm_bot.ask("How many police officers were injured?")
    assert a.backend == "extractive"
    assert a.status == "answered" and INJURED in [q.text for q in a.quotes]
    assert any("language model failed" in n for n in a.notices)
    assert "language model failed" in a.text


def test_streaming_yields_text_then_verified_answer(llm_bot, openai_env):
    openai_env.enqueue(
        answer(
            ("The author writes that over 100 police were injured.", ["over 100 police injured"])
        )
    )
    items = list(llm_bot.stream("How many police officers were injured?"))
    deltas = [i for i in items if isinstance(i, str)]
    assert len(deltas) > 1 and isinstance(items[-1], Answer)
    assert "".join(deltas).startswith("The author writes")
    assert items[-1].claims[0].supported


def test_follow_up_is_rewritten_before_retrieval(llm_bot, openai_env):
    openai_env.enqueue_content("Has Belarus offered to send troops to Kazakhstan?")
    openai_env.enqueue(
        answer(
            (
                "The article says Belarus has offered to send troops.",
                ["So far, Russia, Belarus, Tajikistan and Armenia have offered to send troops"],
            )
        )
    )
    history = [
        {"role": "user", "content": "Which countries offered troops?"},
        {"role": "assistant", "content": "Russia, Belarus, Tajikistan and Armenia."},
    ]
    a = llm_bot.ask("and what about Belarus?", history=history)
    assert a.standalone_question == "Has Belarus offered to send troops to Kazakhstan?"
    rewrite_prompt = " ".join(m["content"] for m in openai_env.history[0].messages)
    assert "Which countries offered troops?" in rewrite_prompt
    assert a.claims[0].supported


def test_offline_follow_up_uses_previous_question(bot):
    history = [{"role": "user", "content": "Which countries have offered to send troops?"}]
    a = bot.ask("and what about Kyrgyzstan?", history=history)
    assert a.standalone_question and "troops" in a.standalone_question
    assert any("Kyrgyzstan is waiting" in q.text for q in a.quotes)


def test_eval_runs_against_the_scripted_server(tmp_path, monkeypatch, bot):
    """`python -m assistant.eval --backend openai` end to end, against a stand-in model."""
    import json

    from scripted_server import ScriptedServer, first_passage_responder

    from assistant.eval.__main__ import main as eval_main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    questions = tmp_path / "q.jsonl"
    rows = [
        {
            "id": "n-1",
            "category": "numbers",
            "question": "How many police officers were injured?",
            "expected_status": "answered",
            "gold_evidence": ["with over 100 police injured"],
            "evidence_mode": "any",
            "must_mention": ["100"],
            "must_not_mention": [],
        },
        {
            "id": "d-1",
            "category": "direct",
            "question": "Since when has the OSF operated in Kazakhstan?",
            "expected_status": "answered",
            "gold_evidence": ["since 1995"],
            "evidence_mode": "any",
            "must_mention": ["1995"],
            "must_not_mention": [],
        },
    ]
    questions.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with ScriptedServer(responder=first_passage_responder) as server:
        code = eval_main(
            [
                "--backend", "openai", "--base-url", server.url, "--api-key", TEST_API_KEY,
                "--questions", str(questions), "--out", str(tmp_path / "out"),
                "--no-compare", "--quiet",
            ]
        )  # fmt: skip
        requests = len(server.history)
    assert code == 0 and requests == 2
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    head = summary["systems"][0]
    assert head["system"] == "full (openai)"
    assert head["quote_validity"] == 1.0 and head["errors"] == 0
    assert head["prompt_tokens"] > 0 and head["cost_usd"] is not None
    rows_out = [
        json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    ]
    assert {r["answer"]["backend"] for r in rows_out} == {"openai"}
    assert "Tokens (full (openai))" in (tmp_path / "out" / "report.md").read_text()
