"""The page from the outside: ``gradio_client`` calling ``/ask`` on a real server.

One test serves the page from a separate ``assistant serve`` process and calls it from
yet another process, as a user's script would; the others check the two embedding
recipes of the README (mounted into a FastAPI app, rendered inside another Blocks app).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastapi
import gradio as gr
import httpx
import pytest
import uvicorn
from gradio_client import Client
from harness import free_port, stop

from assistant import web
from assistant.core import Assistant

QUESTION = "How many police officers were injured?"
INJURED = "over 100 police injured"
ABSENT = "What is the population of Kazakhstan?"
ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 150.0  # a cold process imports torch, Gradio and builds the index

# Run in a separate interpreter: retries until the server answers, then asks both questions
# and prints what came back as one JSON object.
CLIENT_SCRIPT = """
import json, sys, time
from gradio_client import Client

url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        client = Client(url, verbose=False)
        break
    except Exception:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
out = {}
for key, question in (("answered", sys.argv[3]), ("absent", sys.argv[4])):
    result = client.predict(question=question, api_name="/ask")
    out[key] = json.loads(result)
print(json.dumps(out, ensure_ascii=False))
"""

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def wait_for_client(
    client: subprocess.Popen[str], server: subprocess.Popen[Any], timeout: float
) -> tuple[str, str]:
    """The client's output; gives up early if the server dies, and at ``timeout`` anyway."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.communicate(timeout=1)
        except subprocess.TimeoutExpired:
            if server.poll() is not None or time.monotonic() > deadline:
                stop(client)
                return client.communicate()


def assert_answers(data: dict[str, Any], document_text: str) -> None:
    answered, absent = data["answered"], data["absent"]
    assert answered["status"] == "answered" and answered["backend"] == "extractive"
    assert any(INJURED in q["text"] for q in answered["quotes"])
    for q in answered["quotes"]:
        assert document_text[q["start"] : q["end"]] == q["text"]
    assert absent["status"] == "not_in_document" and absent["quotes"] == []


@pytest.mark.timeout(300)
def test_ask_from_another_process_against_assistant_serve(tmp_path: Path, document: Any) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"OPENAI_API_KEY", "ASSISTANT_PORT", "ASSISTANT_HOST", "ASSISTANT_MCP"}
    }
    env |= {
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
        "ASSISTANT_CACHE_DIR": str(tmp_path / "cache"),  # a cold start, index built anew
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )
    # The client starts at once and imports gradio_client while the server warms up.
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT, url, str(STARTUP_TIMEOUT), QUESTION, ABSENT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,  # not the repo: the client imports nothing of this project
        env=env,
    )
    try:
        out, err = wait_for_client(client, server, STARTUP_TIMEOUT + 60)
    finally:
        stop(client)
        stop(server)
        log.close()
    server_log = (tmp_path / "server.log").read_text(errors="replace")
    assert client.returncode == 0, f"client:\n{err[-3000:]}\nserver:\n{server_log[-3000:]}"
    assert_answers(json.loads(out), document.text)
    assert (tmp_path / "cache").is_dir()  # the server honoured ASSISTANT_CACHE_DIR


def ask_both(url: str) -> dict[str, Any]:
    client = Client(url, verbose=False)
    return {
        "answered": json.loads(client.predict(question=QUESTION, api_name="/ask")),
        "absent": json.loads(client.predict(question=ABSENT, api_name="/ask")),
    }


@pytest.fixture
def serve_fastapi() -> Iterator[Callable[[fastapi.FastAPI], str]]:
    """Serves a FastAPI app with uvicorn in a thread on a free loopback port; stops it after."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(app: fastapi.FastAPI) -> str:
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    try:
        yield serve
    finally:
        for server, thread in servers:
            server.should_exit = True
            thread.join(timeout=15)


@pytest.mark.timeout(120)
def test_mount_into_an_existing_fastapi_app(
    serve_fastapi: Callable[[fastapi.FastAPI], str], bot: Assistant, document: Any
) -> None:
    app = fastapi.FastAPI()  # the user's own app, with its own routes

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    assert web.mount(app, "/assistant", bot) is app
    base = serve_fastapi(app)
    assert httpx.get(f"{base}/health", timeout=10).json() == {"ok": True}
    page = httpx.get(f"{base}/assistant/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    config = httpx.get(f"{base}/assistant/config", timeout=10)
    assert config.status_code == 200 and "ask" in config.text
    assert_answers(ask_both(f"{base}/assistant/"), document.text)


@pytest.mark.timeout(120)
def test_render_inside_another_blocks_app(bot: Assistant, document: Any) -> None:
    with gr.Blocks(title="Portal") as portal:
        gr.Markdown("# A portal with other tools")
        with gr.Tab("Document"):
            web.build_app(bot).render()
        with gr.Tab("Notes"):
            gr.Textbox(label="notes")
    port = free_port()
    web.launch(portal, port, prevent_thread_lock=True, quiet=True)
    try:
        assert_answers(ask_both(f"http://127.0.0.1:{port}/"), document.text)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200
        config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=10).text
        assert "A portal with other tools" in config and "notes" in config
    finally:
        portal.close()
