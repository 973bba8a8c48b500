"""Small helpers shared by the robustness, fault, security and load tests: free loopback
ports, serving a page in-process or as an ``assistant serve`` process, and stopping what a
test started (by its own handle, never by name)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Two small documents for corpus tests: one also answers the article's police question.
HARBOUR = (
    "Harbour Report\n\n"
    "Fishing boats returned early because of the storm. The harbour master closed the port "
    "at noon. Police said two officers were injured while helping the fishermen.\n"
)
BAKE = (
    "# Village Bake Sale\n\n"
    "The bake sale raised 300 pounds for the school roof. Mrs Jones baked forty cakes, and "
    "the vicar judged the competition.\n"
)

#: A short document whose index builds in about a second.
LIGHTHOUSE = """# The Lighthouse Report

The harbour lighthouse at Kellby was built in 1871 by the engineer Marta Olsen.[1]

## Repairs

Some reports say the lamp failed twice in 1990. The council spent 40,000 crowns on repairs.
The keeper, Jonas Berg, lived in the tower for thirty years.

## Footnotes

[1] Kellby Harbour Archive.
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@contextmanager
def serve_in_process(bot: Any) -> Iterator[str]:
    """The page for ``bot`` on a free loopback port in this process; yields its URL."""
    from assistant import web

    port = free_port()
    demo = web.build_app(bot)
    web.launch(demo, port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def server_env(**extra: str) -> dict[str, str]:
    """The environment for a server process: offline, no key unless given, no stray ports."""
    drop = {"OPENAI_API_KEY", "OPENAI_BASE_URL", "ASSISTANT_PORT", "ASSISTANT_HOST"}
    drop |= {"ASSISTANT_MCP", "ASSISTANT_CHROMA_URL", "GRADIO_TEMP_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env |= {
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
        "PYTHONUNBUFFERED": "1",
    }
    env |= extra
    return env


def start_server(
    port: int, log: Path, env: dict[str, str], *serve_args: str, document: str | None = None
) -> subprocess.Popen[bytes]:
    """``python -m assistant [--document D] serve --port N [serve_args]``, output in ``log``."""
    first = ["--document", document] if document else []
    out = log.open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "assistant", *first, "serve", "--port", str(port), *serve_args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
    finally:
        out.close()  # the child keeps its own descriptor


def wait_ready(url: str, proc: subprocess.Popen[Any], log: Path, timeout: float = 180) -> None:
    """Poll the page until it answers; fail early with the log if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited ({proc.returncode}):\n{tail(log)}")
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"server not ready in {timeout:.0f} s:\n{tail(log)}")


def stop(proc: subprocess.Popen[Any]) -> None:
    """End a process this test started: politely, then for sure."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def predict(client: Any, api_name: str, **kwargs: Any) -> Any:
    """``client.predict`` with a JSON result decoded (gradio_client may hand it over as text)."""
    result = client.predict(api_name=api_name, **kwargs)
    if isinstance(result, str):
        import json

        return json.loads(result)
    return result


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium(playwright: Any) -> Any:
    """Debian's chromium under Playwright, or a skip saying why there is none."""
    import pytest

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium) - browser test skipped")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def known_misses(cases, misses, reason: str, key=lambda case: case) -> list:
    """``cases`` for ``parametrize``, those whose ``key`` is in ``misses`` marked as strict
    expected failures: a known limit stays visible, and a fix shows up as a failure."""
    mark = pytest.mark.xfail(strict=True, reason=reason)
    out = []
    for case in cases:
        values = case if isinstance(case, tuple) else (case,)
        out.append(pytest.param(*values, marks=mark) if key(case) in misses else case)
    return out
