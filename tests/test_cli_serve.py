"""`deconvkit serve`: starts the web app on loopback; bad options are one error line, exit 2."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def run(*args):
    return subprocess.run([sys.executable, "-m", "deconvkit", *args], capture_output=True, text=True, timeout=120)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_help_lists_the_options():
    result = run("serve", "--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--open", "--max-upload-mb", "--max-pixels", "--workers"):
        assert option in result.stdout
    assert "serve" in run("--help").stdout


def test_serves_the_page_and_api_on_loopback():
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "deconvkit", "serve", "--port", str(port), "--workers", "1",
                               "--max-pixels", "1000000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/methods", timeout=2) as response:
                    body = json.load(response)
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None, server.stderr.read() if server.poll() is not None else "no answer"
        assert body["limits"]["max_pixels"] == 1_000_000
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert b"deconvkit" in response.read()
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down cleanly
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "workers=0 must be > 0"),
    (["--max-upload-mb", "-1"], "max_upload_mb"),
    (["--port", "70000"], "port"),
])
def test_bad_options_are_one_error_line(args, message):
    result = run("serve", *args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_port_in_use_is_one_error_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.returncode == 2 and "cannot listen on 127.0.0.1" in result.stderr


def test_non_loopback_host_warns(monkeypatch):
    # only the warning path is checked: run() up to the point of serving, with serve() replaced
    from deconvkit import web
    from deconvkit.cli import serve

    calls = []
    monkeypatch.setattr(web, "serve", lambda config, open_browser: calls.append((config, open_browser)))
    import argparse

    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args(["--host", "0.0.0.0", "--port", str(free_port()), "--open"])
    import contextlib
    import io

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        assert serve.run(args) == 0
    assert "no authentication" in stderr.getvalue()
    assert calls[0][0].host == "0.0.0.0" and calls[0][1] is True
