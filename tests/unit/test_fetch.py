"""Fetching: streaming size cap, SSRF guard, type from magic numbers, error kinds, temp cleanup.

The HTTP server here listens on 127.0.0.1 and stands in for an internet host (Supabase Storage):
it is reachable only because the tests put it on FETCH_ALLOWED_HOSTS. Addresses outside the
allow-list are refused before any connection is attempted, so no traffic leaves this machine.
The forward proxy here is a real one (it parses the request, connects and relays), except that
it sends every name to that server: the stand-in for the internet's DNS, which cannot exist here.
For TLS, a test CA (trustme) issues the certificates; the tests trust it through SSL_CERT_FILE,
as an operator behind a TLS-inspecting proxy would.
"""

from __future__ import annotations

import hashlib
import io
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from PIL import Image

from kairo_ray.errors import PermanentError, TransientError
from kairo_ray.processing.fetch import detect_kind, fetch, proxy_for
from kairo_ray.settings import Settings


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), "white").save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
MB = 1024 * 1024
TLS_HOST = "files.kairo.invalid"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/doc.png":
            self._send(200, PNG, {"Content-Type": "application/pdf"})  # mislabelled on purpose
        elif path == "/doc.pdf":
            self._send(200, PDF)
        elif path == "/notes.txt":
            self._send(200, b"plain text, not a document")
        elif path == "/empty":
            self._send(200, b"")
        elif path == "/missing":
            self._send(404, b"not found")
        elif path == "/forbidden":
            self._send(403, b"expired signature")
        elif path == "/unavailable":
            self._send(503, b"try later")
        elif path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Length", str(100 * MB))
            self.end_headers()
            self.wfile.write(PDF)
        elif path == "/endless":
            # No Content-Length, chunked: only the streaming counter can stop it.
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"%PDF-1.4 " + b"x" * (256 * 1024)
            try:
                for _ in range(40):  # bounded: 10 MB at most
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/trickle":
            # A byte every 0.3 s: each read is well within FETCH_TIMEOUT_SECONDS. Bounded: 20 s.
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(66):
                    self.wfile.write(b"%" if _ == 0 else b"x")
                    self.wfile.flush()
                    time.sleep(0.3)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/slow":
            time.sleep(2)
            self._send(200, PDF)
        elif path == "/redirect":
            self._send(302, headers={"Location": "/doc.pdf"})
        elif path == "/redirect-internal":
            self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
        else:
            self._send(404)


class _QuietServer(ThreadingHTTPServer):
    """Clients that stop reading early (the size cap, a refused peer) are expected here."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


def _serve(httpd: _QuietServer) -> _QuietServer:
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def _stop(httpd: _QuietServer) -> None:
    httpd.shutdown()
    httpd.server_close()


def _with_tls(httpd: _QuietServer, ca: trustme.CA, name: str) -> _QuietServer:
    """``httpd`` speaking TLS with a certificate for ``name`` from the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    return httpd


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _serve(_QuietServer(("127.0.0.1", 0), _Handler))
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _stop(httpd)


@pytest.fixture(scope="module")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(test_ca: trustme.CA) -> Iterator[tuple[str, int]]:
    """The same files over HTTPS, as ``files.kairo.invalid``: where the proxy tunnels to."""
    httpd = _serve(_with_tls(_QuietServer(("127.0.0.1", 0), _Handler), test_ca, TLS_HOST))
    yield "127.0.0.1", httpd.server_address[1]
    _stop(httpd)


@pytest.fixture
def trusted_ca(test_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA is the environment's CA bundle."""
    bundle = tmp_path / "ca.pem"
    test_ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


@pytest.fixture
def temp_dir(tmp_path: Path) -> Path:
    return tmp_path / "fetch"


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the environment running the tests would change where every request goes."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class _ProxyHandler(BaseHTTPRequestHandler):
    """A forward proxy: ``GET http://host/path`` is fetched from the upstream server (whatever
    the host) and relayed; ``CONNECT host:port`` is tunnelled to the TLS server. Each absolute
    URL or CONNECT target asked for is recorded."""

    upstream: tuple[str, int]
    tls_upstream: tuple[str, int]
    seen: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        path = "/" + self.path.split("://", 1)[-1].split("/", 1)[-1]
        with socket.create_connection(self.upstream, timeout=5) as upstream:
            upstream.sendall(f"GET {path} HTTP/1.0\r\nHost: upstream\r\n\r\n".encode())
            self.connection.sendall(_read_all(upstream))
        self.close_connection = True

    def do_CONNECT(self) -> None:
        self.seen.append(f"CONNECT {self.path}")
        with socket.create_connection(self.tls_upstream, timeout=5) as upstream:
            self.send_response(200, "Connection established")
            self.end_headers()
            _relay(self.connection, upstream)
        self.close_connection = True


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while True:
            for key, _ in selector.select(timeout=5):
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                key.data.sendall(data)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _proxy_server(server: str, tls_server: tuple[str, int]) -> tuple[_QuietServer, list[str]]:
    host, port = server.removeprefix("http://").split(":")
    seen: list[str] = []
    handler = type(
        "Handler",
        (_ProxyHandler,),
        {"upstream": (host, int(port)), "tls_upstream": tls_server, "seen": seen},
    )
    return _QuietServer(("127.0.0.1", 0), handler), seen


@pytest.fixture
def proxy(server: str, tls_server: tuple[str, int]) -> Iterator[tuple[str, list[str]]]:
    """A forward proxy on 127.0.0.1 in front of the test servers: (its URL, what it was asked)."""
    httpd, seen = _proxy_server(server, tls_server)
    _serve(httpd)
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    _stop(httpd)


@pytest.fixture
def tls_proxy(
    server: str, tls_server: tuple[str, int], test_ca: trustme.CA
) -> Iterator[tuple[str, list[str]]]:
    """The same proxy reached over TLS (an ``https://`` proxy URL)."""
    httpd, seen = _proxy_server(server, tls_server)
    _serve(_with_tls(httpd, test_ca, "127.0.0.1"))
    yield f"https://127.0.0.1:{httpd.server_address[1]}", seen
    _stop(httpd)


def _settings(temp_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "temp_dir": temp_dir,
        "fetch_allowed_hosts": ["127.0.0.1"],
        "max_file_size_mb": 1,
        "fetch_timeout_seconds": 5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def _leftovers(temp_dir: Path) -> list[Path]:
    return list(temp_dir.iterdir()) if temp_dir.exists() else []


async def test_download_identifies_by_magic_not_label(server: str, temp_dir: Path) -> None:
    async with await fetch(f"{server}/doc.png?token=abc", _settings(temp_dir)) as fetched:
        assert fetched.kind == "png"
        assert fetched.size == len(PNG) and fetched.read_bytes() == PNG
        assert fetched.path.parent == temp_dir
        assert fetched.sha256 == hashlib.sha256(PNG).hexdigest()
    assert _leftovers(temp_dir) == []


async def test_redirect_followed(server: str, temp_dir: Path) -> None:
    fetched = await fetch(f"{server}/redirect", _settings(temp_dir))
    assert fetched.kind == "pdf"
    fetched.cleanup()
    fetched.cleanup()  # idempotent
    assert _leftovers(temp_dir) == []


@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        ("/missing", PermanentError, "HTTP 404"),
        ("/forbidden", PermanentError, "HTTP 403"),
        ("/unavailable", TransientError, "HTTP 503"),
        ("/notes.txt", PermanentError, "unsupported file type"),
        ("/empty", PermanentError, "empty file"),
        ("/big-declared", PermanentError, "MAX_FILE_SIZE_MB=1"),
        ("/endless", PermanentError, "file too large: more than MAX_FILE_SIZE_MB=1"),
    ],
)
async def test_errors_are_classified_and_clean_up(
    server: str, temp_dir: Path, path: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await fetch(f"{server}{path}?token=secret-token", _settings(temp_dir))
    assert _leftovers(temp_dir) == []


async def test_error_messages_hide_signed_url_tokens(server: str, temp_dir: Path) -> None:
    with pytest.raises(PermanentError) as caught:
        await fetch(f"{server}/missing?token=secret-token", _settings(temp_dir))
    assert "secret-token" not in str(caught.value)


async def test_read_timeout_is_transient(server: str, temp_dir: Path) -> None:
    with pytest.raises(TransientError, match="timeout"):
        await fetch(f"{server}/slow", _settings(temp_dir, fetch_timeout_seconds=0.5))
    assert _leftovers(temp_dir) == []


async def test_a_trickling_download_ends_at_its_deadline(server: str, temp_dir: Path) -> None:
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"longer than FETCH_DEADLINE_SECONDS=1\b") as late:
        await fetch(f"{server}/trickle?token=secret", _settings(temp_dir, fetch_deadline_seconds=1))
    assert time.monotonic() - started < 5 and "secret" not in str(late.value)
    assert _leftovers(temp_dir) == []


async def test_connection_refused_is_transient(temp_dir: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientError, match="network error"):
        await fetch(f"http://127.0.0.1:{port}/doc.pdf", _settings(temp_dir))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/doc.pdf",
        "http://localhost/doc.pdf",
        "http://[::1]/doc.pdf",
        "http://10.1.2.3/doc.pdf",
        "http://192.168.0.10/doc.pdf",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/doc.pdf",
        "http://224.0.0.1/doc.pdf",
        "http://[::ffff:127.0.0.1]/doc.pdf",
        "http://100.100.100.200/latest/meta-data",  # CGNAT range: Alibaba's metadata service
        "http://100.64.0.1/doc.pdf",  # CGNAT, Tailscale
        "http://192.0.2.10/doc.pdf",  # documentation range, not globally routable
        "http://198.18.0.1/doc.pdf",  # benchmarking range
        "http://[fd7a:115c:a1e0::1]/doc.pdf",  # unique local IPv6 (Tailscale)
    ],
)
async def test_ssrf_refused_without_allow_list(temp_dir: Path, url: str) -> None:
    with pytest.raises(PermanentError, match="non-public address"):
        await fetch(url, _settings(temp_dir, fetch_allowed_hosts=[]))
    assert _leftovers(temp_dir) == []


async def test_connected_address_checked_against_dns_rebinding(
    server: str, temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name looked public when resolved, but the connection went to a loopback address."""
    import kairo_ray.processing.fetch as fetch_module

    async def resolved_public(url: str, settings: Settings, **_: object) -> None:
        return None

    monkeypatch.setattr(fetch_module, "check_host", resolved_public)
    with pytest.raises(PermanentError, match=r"connected to non-public address 127\.0\.0\.1"):
        await fetch(f"{server}/doc.pdf", _settings(temp_dir, fetch_allowed_hosts=[]))
    assert _leftovers(temp_dir) == []


async def test_ssrf_checked_on_redirects(server: str, temp_dir: Path) -> None:
    with pytest.raises(PermanentError, match=r"169\.254\.169\.254"):
        await fetch(f"{server}/redirect-internal", _settings(temp_dir))


async def test_download_through_the_environments_proxy(
    proxy: tuple[str, list[str]], temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind an egress proxy the proxy resolves and connects: a name this machine cannot resolve
    is fetched, and the connection to the proxy (a private address) is not refused as the peer."""
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    settings = _settings(temp_dir, fetch_allowed_hosts=[])
    async with await fetch("http://files.kairo.invalid/doc.png?token=t", settings) as fetched:
        assert fetched.kind == "png" and fetched.read_bytes() == PNG
    assert seen == ["http://files.kairo.invalid/doc.png?token=t"]
    assert _leftovers(temp_dir) == []


async def test_https_download_tunnels_through_the_proxy(
    proxy: tuple[str, list[str]], trusted_ca: None, temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An https:// file goes through the proxy by CONNECT; the file's own certificate is checked
    against the environment's CA bundle, and the proxy's address is let through as the peer."""
    url, seen = proxy
    monkeypatch.setenv("HTTPS_PROXY", url)
    settings = _settings(temp_dir, fetch_allowed_hosts=[])
    async with await fetch(f"https://{TLS_HOST}/doc.png?token=t", settings) as fetched:
        assert fetched.kind == "png" and fetched.read_bytes() == PNG
    assert seen == [f"CONNECT {TLS_HOST}:443"]


async def test_https_proxy_verified_with_the_environments_ca(
    tls_proxy: tuple[str, list[str]],
    trusted_ca: None,
    temp_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy reached over TLS is verified with SSL_CERT_FILE too, not only the files behind it
    (a company's proxy often has a certificate from the company's own CA)."""
    url, seen = tls_proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    settings = _settings(temp_dir, fetch_allowed_hosts=[])
    async with await fetch(f"http://{TLS_HOST}/doc.png", settings) as fetched:
        assert fetched.read_bytes() == PNG
    assert seen == [f"http://{TLS_HOST}/doc.png"]


async def test_https_proxy_with_an_untrusted_certificate_is_refused(
    tls_proxy: tuple[str, list[str]], temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = tls_proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    settings = _settings(temp_dir, fetch_allowed_hosts=[])
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        await fetch(f"http://{TLS_HOST}/doc.png", settings)
    assert seen == [] and _leftovers(temp_dir) == []


@pytest.mark.parametrize(
    "target", ["http://127.0.0.1:9/doc.pdf", "http://169.254.169.254/latest/meta-data"]
)
async def test_proxy_does_not_open_the_ssrf_guard(
    proxy: tuple[str, list[str]], temp_dir: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """What this machine can resolve is still checked: a proxy must not fetch internal URLs."""
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    with pytest.raises(PermanentError, match="non-public address"):
        await fetch(target, _settings(temp_dir, fetch_allowed_hosts=[]))
    assert seen == []


async def test_connection_follows_the_same_proxy_decision_as_the_guard(
    proxy: tuple[str, list[str]], temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``*`` inside a NO_PROXY list means no proxy to httpx but nothing to urllib: httpx must
    not make its own choice, or the guard would have judged a proxied request that then went
    direct (here: a name only the proxy knows, which httpx alone could not reach)."""
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "example.org,*")
    settings = _settings(temp_dir, fetch_allowed_hosts=[])
    async with await fetch("http://files.kairo.invalid/doc.pdf", settings) as fetched:
        assert fetched.kind == "pdf"
    assert seen == ["http://files.kairo.invalid/doc.pdf"]


async def test_direct_connection_to_the_proxys_address_is_still_checked(
    server: str,
    proxy: tuple[str, list[str]],
    temp_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The proxy's own address passes as a peer only on a hop sent through it: a direct hop
    (NO_PROXY) whose name was rebound to the proxy's private address is refused."""
    import kairo_ray.processing.fetch as fetch_module

    async def resolved_public(url: str, settings: Settings, **_: object) -> None:
        return None

    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setattr(fetch_module, "check_host", resolved_public)
    with pytest.raises(PermanentError, match=r"connected to non-public address 127\.0\.0\.1"):
        await fetch(f"{server}/doc.pdf", _settings(temp_dir, fetch_allowed_hosts=[]))
    assert seen == []


@pytest.mark.parametrize(
    "proxy_url",
    [
        "http://user:s3cret@proxy.invalid:port",  # a port that is no number
        "ftp://user:s3cret@127.0.0.1:1",  # a scheme httpx refuses, naming the URL
    ],
)
async def test_unusable_proxy_is_transient_and_hides_the_url(
    temp_dir: Path, monkeypatch: pytest.MonkeyPatch, proxy_url: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    with pytest.raises(TransientError, match="proxy") as caught:
        await fetch("http://files.kairo.invalid/doc.pdf", _settings(temp_dir))
    assert "s3cret" not in str(caught.value)


async def test_resolver_failure_behind_a_proxy_is_transient(
    proxy: tuple[str, list[str]], temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a name that does not exist is left to the proxy; a resolver that cannot answer (a
    stand-in here: no failing DNS server can be run for the test) is retried later."""
    import kairo_ray.processing.fetch as fetch_module

    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    real_resolve = fetch_module._resolve

    async def resolver_down(host: str, port: int) -> frozenset[str]:
        if host == "files.kairo.invalid":
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return await real_resolve(host, port)

    monkeypatch.setattr(fetch_module, "_resolve", resolver_down)
    settings = _settings(temp_dir, fetch_allowed_hosts=[])
    with pytest.raises(TransientError, match="cannot resolve host"):
        await fetch("http://files.kairo.invalid/doc.pdf", settings)
    assert seen == []


async def test_peer_check_lets_through_the_proxys_address_and_port_only(
    server: str, temp_dir: Path
) -> None:
    """On a real connection to the test server: passed as the proxy's (address, port), it is
    let through; the same address with another port is not."""
    import httpx

    from kairo_ray.processing.fetch import check_peer

    port = int(server.rsplit(":", 1)[1])
    settings = _settings(temp_dir, fetch_allowed_hosts=[])
    url = f"{server}/doc.pdf"
    async with (
        httpx.AsyncClient(trust_env=False) as client,
        client.stream("GET", url) as response,
    ):
        check_peer(response, url, settings, frozenset({("127.0.0.1", port)}))
        with pytest.raises(PermanentError, match="non-public address"):
            check_peer(response, url, settings, frozenset({("127.0.0.1", port + 1)}))


async def test_no_proxy_hosts_are_fetched_directly(
    server: str, proxy: tuple[str, list[str]], temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY is honoured, and a direct connection is checked as without a proxy."""
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with await fetch(f"{server}/doc.pdf", _settings(temp_dir)) as fetched:
        assert fetched.kind == "pdf"
    assert seen == []
    with pytest.raises(PermanentError, match="non-public address"):
        await fetch(f"{server}/doc.pdf", _settings(temp_dir, fetch_allowed_hosts=[]))


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({}, "https://files.example.org/a.pdf", None),
        (
            {"HTTPS_PROXY": "http://proxy:3128"},
            "https://files.example.org/a.pdf",
            "http://proxy:3128",
        ),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://files.example.org/a.pdf", None),
        ({"ALL_PROXY": "http://proxy:3128"}, "http://files.example.org/a.pdf", "http://proxy:3128"),
        (
            {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "example.org"},
            "http://files.example.org/a.pdf",
            None,
        ),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "*"}, "http://x.org/a.pdf", None),
        ({"HTTP_PROXY": "proxy:3128"}, "http://x.org/a.pdf", "http://proxy:3128"),
    ],
)
def test_proxy_chosen_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str, expected: str | None
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert proxy_for(url) == expected


async def test_other_schemes_refused(temp_dir: Path) -> None:
    with pytest.raises(PermanentError, match="unsupported URL scheme"):
        await fetch("ftp://example.org/doc.pdf", _settings(temp_dir))


async def test_local_paths(tmp_path: Path, temp_dir: Path) -> None:
    source = tmp_path / "scan.png"
    source.write_bytes(PNG)
    for reference in (str(source), source.as_uri()):
        async with await fetch(reference, _settings(temp_dir)) as fetched:
            assert fetched.kind == "png" and fetched.path != source
        assert source.exists(), "cleanup removes the copy, never the original"
    assert _leftovers(temp_dir) == []
    with pytest.raises(PermanentError, match="FETCH_ALLOW_LOCAL_PATHS"):
        await fetch(str(source), _settings(temp_dir, fetch_allow_local_paths=False))
    with pytest.raises(PermanentError, match="file not found"):
        await fetch(str(tmp_path / "nope.pdf"), _settings(temp_dir))


async def test_local_paths_refused_with_a_users_database(tmp_path: Path, temp_dir: Path) -> None:
    """With DATABASE_URL set a file_url comes from Kairo's users: file:///etc/shadow must not
    read this server's disk, and the refusal quotes nothing of the file."""
    users_db = {"database_url": "postgresql://postgres@db.example/postgres"}
    for reference in ("/etc/shadow", "file:///etc/shadow", "/etc/passwd"):
        with pytest.raises(PermanentError, match=r"refused local path.*DATABASE_URL") as refused:
            await fetch(reference, _settings(temp_dir, **users_db))
        assert "root:" not in str(refused.value)
    allowed = tmp_path / "scans"
    allowed.mkdir()
    (allowed / "scan.png").write_bytes(PNG)
    (allowed / "escape.png").symlink_to("/etc/passwd")
    settings = _settings(temp_dir, **users_db, fetch_local_dirs=[allowed])
    async with await fetch(str(allowed / "scan.png"), settings) as fetched:
        assert fetched.kind == "png"
    for outside in ("/etc/passwd", str(allowed / "escape.png"), f"{allowed}/../../etc/passwd"):
        with pytest.raises(PermanentError, match="outside FETCH_LOCAL_DIRS"):
            await fetch(outside, settings)
    assert _leftovers(temp_dir) == []


async def test_unsupported_file_message_quotes_no_bytes(tmp_path: Path, temp_dir: Path) -> None:
    source = tmp_path / "secret.txt"
    source.write_bytes(b"root:$6$hash:19000:0:99999:7:::\n")
    with pytest.raises(PermanentError, match="unsupported file type") as refused:
        await fetch(str(source), _settings(temp_dir))
    assert "root" not in str(refused.value) and "$6$" not in str(refused.value)


async def test_connection_goes_to_the_address_that_was_checked(
    tls_server: tuple[str, int], trusted_ca: None, temp_dir: Path, monkeypatch
) -> None:
    """No second lookup: the name (which only the guard's resolver knows) is resolved once,
    checked, and the connection goes to that address with the name as Host and TLS server name,
    so the certificate is still verified for the name."""
    import kairo_ray.processing.fetch as fetch_module

    host, port = tls_server
    lookups: list[str] = []

    async def resolve(name: str, _: int) -> frozenset[str]:
        lookups.append(name)
        return frozenset({host})

    monkeypatch.setattr(fetch_module, "_resolve", resolve)
    # The stand-in host is on loopback: let the guard take it for a public address, once.
    monkeypatch.setattr(fetch_module, "_blocked_address", lambda address: False)
    url = f"https://{TLS_HOST}:{port}/doc.png?token=t"
    async with await fetch(url, _settings(temp_dir, fetch_allowed_hosts=[])) as fetched:
        assert fetched.kind == "png" and fetched.read_bytes() == PNG
    assert lookups == [TLS_HOST], "one lookup, by the guard; httpx never resolved the name"


def test_pinned_request_keeps_the_name_for_the_server() -> None:
    from kairo_ray.processing.fetch import pinned_request

    url, headers, extensions = pinned_request(
        "https://files.example:8443/a.pdf?x=1", frozenset({"2001:db8::1", "203.0.113.7"})
    )
    assert url == "https://203.0.113.7:8443/a.pdf?x=1"
    assert headers == {"Host": "files.example:8443"}
    assert extensions == {"sni_hostname": "files.example"}
    url, headers, _ = pinned_request("http://files.example/a", frozenset({"2001:db8::1"}))
    assert (url, headers) == ("http://[2001:db8::1]/a", {"Host": "files.example"})
    assert pinned_request("http://x/a", None) == ("http://x/a", {}, {})


async def test_local_file_over_the_cap(tmp_path: Path, temp_dir: Path) -> None:
    source = tmp_path / "big.pdf"
    source.write_bytes(b"%PDF-1.4\n" + b"0" * (2 * MB))
    with pytest.raises(PermanentError, match="MAX_FILE_SIZE_MB=1"):
        await fetch(str(source), _settings(temp_dir))
    assert _leftovers(temp_dir) == []


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", "pdf"),
        (b"\r\n\r\n%PDF-1.4", "pdf"),  # junk before the header is allowed by readers
        (b"\x89PNG\r\n\x1a\n....", "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b"BM" + b"\x00" * 30, "bmp"),
        (b"GIF89a", None),
        (b"PK\x03\x04", None),
        (b"hello world", None),
        (b"", None),
    ],
)
def test_magic_numbers(head: bytes, kind: str | None) -> None:
    assert detect_kind(head) == kind
