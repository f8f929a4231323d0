"""Start-up: `make run` says READY once the bot answers (scripts/wait_ready.py), and the
run scripts keep the libraries' deprecation warnings out of the console unless VERBOSE.

The sandbox's side (messages typed while the bot starts wait, then go out) is in
test_sandbox_app.py and, in a browser, test_sandbox_page.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sandbox.harness.sandbox_bot import free_port

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "wait_ready.py"
_spec = importlib.util.spec_from_file_location("wait_ready", SCRIPT)
assert _spec and _spec.loader
wait_ready = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wait_ready)


class Health:
    """What the fake Rasa server's GET /webhooks/whatsapp/ answers."""

    status = 200
    body: object = {"status": "ok", "consuming": True}


@contextmanager
def health_server(health: type[Health], port: int = 0) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = json.dumps(health.body).encode()
            self.send_response(health.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/whatsapp/"
    finally:
        server.shutdown()
        server.server_close()


def test_ready_means_answering_with_the_consumer_running():
    assert not wait_ready.is_ready(f"http://127.0.0.1:{free_port()}/webhooks/whatsapp/")

    class Starting(Health):
        status = 503
        body = {"error": "the inbox's database is not reachable"}

    with health_server(Starting) as url:
        assert not wait_ready.is_ready(url)

    class NotConsuming(Health):
        body = {"status": "ok", "consuming": False}

    with health_server(NotConsuming) as url:
        assert not wait_ready.is_ready(url)
    with health_server(Health) as url:
        assert wait_ready.is_ready(url)

    class NoInbox(Health):  # a server without the inbox reports no consumer
        body = {"status": "ok"}

    with health_server(NoInbox) as url:
        assert wait_ready.is_ready(url)


def test_wait_until_every_server_is_ready_or_the_time_is_up():
    now = [0.0]
    answers = {"a": [False, False, True], "b": [False, True]}

    def check(url: str) -> bool:
        return answers[url].pop(0)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    assert wait_ready.wait(["a", "b"], 10, check, 1, lambda: now[0], sleep)
    assert now[0] == 2 and answers == {"a": [], "b": []}  # b is not asked again once ready
    now[0] = 0.0
    assert not wait_ready.wait(["a"], 3, lambda url: False, 1, lambda: now[0], sleep)
    assert now[0] == 3


def test_the_ready_lines_name_what_to_open():
    lines = wait_ready.ready_lines(36.4, "http://localhost:8080", "http://localhost:5005")
    assert lines[1].startswith("READY after 36 s")
    assert "http://localhost:8080" in lines[2]
    assert "http://localhost:5005/webhooks/whatsapp/webhook" in lines[3]
    assert set(lines[0]) == {"="} and lines[0] == lines[-1]


def test_the_script_says_ready_once_the_bot_comes_up_and_not_ready_at_the_timeout():
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/whatsapp/"
    command = [sys.executable, str(SCRIPT), "--health", url, "--chat", "http://localhost:8080",
               "--since", str(time.time()), "--timeout", "60"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(1.5)
        assert process.poll() is None  # nothing answers yet: still waiting, silently
        with health_server(Health, port):
            out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert re.search(r"^READY after \d+ s: the bot answers", out, re.M), out
    assert "Chat with it in the sandbox: http://localhost:8080" in out

    late = subprocess.run([sys.executable, str(SCRIPT), "--health", url, "--timeout", "1"],
                          capture_output=True, text=True, timeout=30)
    assert late.returncode == 1 and "NOT READY after 1 s" in late.stderr


@pytest.mark.parametrize("script", ["run.sh", "run_cluster.sh"])
def test_run_scripts_load_the_quiet_warnings_unless_verbose(script):
    text = (REPO / "scripts" / script).read_text()
    assert 'export PYTHONPATH="$PWD/scripts/quiet' in text and "VERBOSE" in text
    assert "wait_ready.py" in text


NOISY = """
import warnings
import {module}
{module}.deprecated()
warnings.warn("soon changed", FutureWarning)  # from __main__: not ours either
warnings.filterwarnings("once", category=DeprecationWarning)  # as Sanic does
{module}.deprecated()
{module}.other()
"""
LIBRARY = """
import warnings
def deprecated():
    warnings.warn("old API of {where}", DeprecationWarning, stacklevel=1)
def other():
    warnings.warn("a user warning from {where}", UserWarning, stacklevel=1)
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_deprecation_warnings_from_libraries_are_left_out_and_ours_shown(tmp_path, verbose):
    library = tmp_path / "site-packages"
    library.mkdir()
    (library / "somelib.py").write_text(LIBRARY.format(where="a library"))
    ours = REPO / "var" / "warns_test_module.py"  # inside the repository: our code
    ours.parent.mkdir(exist_ok=True)
    ours.write_text(LIBRARY.format(where="our code"))
    paths = [str(library), str(ours.parent)]
    if not verbose:
        paths.insert(0, str(REPO / "scripts" / "quiet"))
    try:
        shown = {}
        for module in ("somelib", "warns_test_module"):
            run = subprocess.run(
                [sys.executable, "-c", NOISY.format(module=module)], capture_output=True,
                text=True, timeout=60, cwd=tmp_path,
                env={"PYTHONPATH": ":".join(paths), "PYTHONDONTWRITEBYTECODE": "1"},
            )
            assert run.returncode == 0, run.stderr
            shown[module] = run.stderr
    finally:
        ours.unlink()
    assert ("old API of a library" in shown["somelib"]) is verbose
    assert ("soon changed" in shown["somelib"]) is verbose
    assert "a user warning from a library" in shown["somelib"]
    assert "old API of our code" in shown["warns_test_module"]


def test_only_files_of_this_repository_count_as_ours():
    spec = importlib.util.spec_from_file_location(
        "quiet_sitecustomize", REPO / "scripts" / "quiet" / "sitecustomize.py")
    assert spec and spec.loader
    quiet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quiet)
    try:
        assert quiet.ours(str(REPO / "actions" / "cart.py"))
        for other in ("<frozen importlib._bootstrap>", "<string>", "sitecustomize.py",
                      str(REPO / ".venv/lib/python3.10/site-packages/sanic/app.py"),
                      "/usr/lib/python3.10/warnings.py"):
            assert not quiet.ours(other), other
    finally:
        import warnings

        warnings._showwarnmsg = quiet._show  # this process keeps its own printing


def test_run_sh_filters_start_up_chatter_but_not_errors():
    text = (REPO / "scripts" / "run.sh").read_text()
    noise = re.search(r"^NOISE='(.+)'$", text, re.M)
    assert noise
    lines = [
        "2026-12-01 04:28:49 INFO     rasa_sdk.executor  - Registered function for 'action_x'.",
        "2026-12-01 04:28:56,935 INFO     sanic.root  - Goin' Fast @ http://0.0.0.0:15005",
        "2026-12-01 04:28:56,935 INFO     sanic.root  - packages: sanic-routing==0.7.2",
        "2026-12-01 04:28:49,819 ERROR    channels.whatsapp.channel  - WHATSAPP_APP_SECRET is ...",
        "2026-12-01 04:28:56,876 INFO     __main__  - Front door on port 15005",
    ]
    kept = subprocess.run(["grep", "-v", "-E", noise.group(1)], input="\n".join(lines),
                          capture_output=True, text=True, timeout=10).stdout.splitlines()
    assert kept == lines[3:]
