"""The one HTTP stack: proxies from the environment (a real tinyproxy carries the requests), bad and unreachable
proxies as one line, NO_PROXY, and TLS verified against the system's (or SSL_CERT_FILE's) authorities."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from emoprompt.backends.http import proxy_for, ssl_context
from emoprompt.errors import UsageError
from tests.loopback_server import LoopbackServer
from tests.processes import emoprompt, records, subprocess_env

URL = "https://api.example.com/v1/chat/completions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_args(url: str, out: Path, limit: int = 3) -> list[str]:
    return ["run", "--model", "openai/test-model", "--api-base", url, "--task", "sum", "--limit", str(limit),
            "--condition", "baseline", "--condition", "EP02", "--no-progress", "--no-report", "--no-cache",
            "--out", str(out)]


@pytest.fixture
def clean_proxy_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("variables, url, expected", [
    ({}, URL, None),
    ({"HTTPS_PROXY": "http://proxy.local:3128"}, URL, "http://proxy.local:3128"),
    ({"https_proxy": "proxy.local:3128"}, URL, "http://proxy.local:3128"),  # curl's bare host:port
    ({"HTTPS_PROXY": "http://proxy.local:3128"}, "http://api.example.com/v1", None),  # https only
    ({"ALL_PROXY": "http://all.local:1"}, "http://api.example.com/v1", "http://all.local:1"),
    ({"HTTPS_PROXY": "http://proxy.local:3128", "NO_PROXY": "api.example.com"}, URL, None),
    ({"HTTPS_PROXY": "http://proxy.local:3128", "NO_PROXY": ".example.com"}, URL, None),
    ({"HTTPS_PROXY": "http://proxy.local:3128", "NO_PROXY": "other.com"}, URL, "http://proxy.local:3128"),
])
def test_the_proxy_comes_from_the_environment_as_curl_reads_it(clean_proxy_environment, variables, url, expected):
    for name, value in variables.items():
        clean_proxy_environment.setenv(name, value)
    assert proxy_for(url) == expected


@pytest.mark.parametrize("value, message", [
    ("http://proxy.local:99999", "is not a valid proxy URL"),
    ("http://proxy.local:port", "is not a valid proxy URL"),
    ("socks5://proxy.local:1080", "is not an http(s) proxy URL"),
    ("http://proxy local:3128", "is not an http(s) proxy URL"),
])
def test_a_proxy_url_that_cannot_be_parsed_is_bad_input(clean_proxy_environment, value, message):
    clean_proxy_environment.setenv("HTTPS_PROXY", value)
    with pytest.raises(UsageError, match=re.escape(message)):
        proxy_for(URL)


@pytest.fixture
def tinyproxy(tmp_path):
    if shutil.which("tinyproxy") is None:
        pytest.skip("needs tinyproxy (apt-get install tinyproxy; .ci/run installs it)")
    port = free_port()
    log = tmp_path / "tinyproxy.log"
    config = tmp_path / "tinyproxy.conf"
    config.write_text(f'Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile "{log}"\nLogLevel Info\n'
                      "MaxClients 200\nAllow 127.0.0.1\n")
    process = subprocess.Popen(["tinyproxy", "-d", "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", log
    process.terminate()
    process.wait(10)


def test_a_run_goes_through_the_proxy_the_environment_names(tinyproxy, loopback, tmp_path):
    proxy, log = tinyproxy
    result = emoprompt(*run_args(loopback.url, tmp_path / "r"), env=subprocess_env(HTTP_PROXY=proxy, NO_PROXY=""))
    assert result.returncode == 0, result.stdout + result.stderr
    carried = [line for line in log.read_text().splitlines()
               if f"POST {loopback.url}/chat/completions" in line]
    assert len(carried) == len(records(tmp_path / "r")) == 6 == loopback.requests


def test_no_proxy_sends_the_host_directly(loopback, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    result = emoprompt(*run_args(loopback.url, tmp_path / "r"),
                       env=subprocess_env(HTTP_PROXY=dead, NO_PROXY="127.0.0.1"))
    assert result.returncode == 0, result.stderr
    assert loopback.requests == 6


def test_an_unreachable_proxy_is_named_in_one_line(loopback, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    result = emoprompt(*run_args(loopback.url, tmp_path / "r"), env=subprocess_env(HTTP_PROXY=dead, NO_PROXY=""))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and f"cannot reach the proxy {dead}" in errors[0]
    assert loopback.requests == 0 and not (tmp_path / "r").exists()


def test_a_bad_proxy_url_is_one_line_before_anything_is_sent(loopback, tmp_path):
    result = emoprompt(*run_args(loopback.url, tmp_path / "r"),
                       env=subprocess_env(HTTP_PROXY="http://127.0.0.1:99999", NO_PROXY=""))
    assert result.returncode == 2 and "is not a valid proxy URL" in result.stderr and "Traceback" not in result.stderr
    assert loopback.requests == 0


@pytest.fixture
def https_server(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = LoopbackServer(tls=context).start()
    yield server, cert
    server.stop()


def test_tls_is_verified_against_ssl_cert_file(https_server, tmp_path):
    server, cert = https_server
    trusted = emoprompt(*run_args(server.url, tmp_path / "trusted"), env=subprocess_env(SSL_CERT_FILE=str(cert)))
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert server.url.startswith("https://") and server.requests == 6


def test_an_untrusted_certificate_is_never_accepted(https_server, tmp_path):
    server, _ = https_server
    untrusted = emoprompt(*run_args(server.url, tmp_path / "untrusted"), "--retries", "0")
    assert untrusted.returncode == 3 and server.requests == 0
    assert {row["error"]["kind"] for row in records(tmp_path / "untrusted")} == {"connection"}
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout


def test_the_tls_context_verifies_and_has_authorities():
    ssl_context.cache_clear()
    context = ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0
