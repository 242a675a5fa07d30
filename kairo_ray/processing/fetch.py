"""Bring a document's bytes to a temporary file: http(s) download or (when allowed) a local path.

The size cap is enforced while streaming, so a huge or endless response never fills the disk.
The file type comes from the bytes (magic numbers), not from the declared ``file_type``: uploads
are often mislabelled and a wrong label must not route a PNG to the PDF renderer.
Hosts that resolve to any address that is not globally routable (loopback, private, CGNAT
100.64.0.0/10, link-local, reserved, multicast...) are refused (SSRF guard) unless listed in
``FETCH_ALLOWED_HOSTS``: before connecting (the resolved addresses, on every redirect hop), by
connecting to the very address that was checked (no second lookup an attacker's DNS could
answer differently), and again after connecting, before any of the body is read.
Behind an egress proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, less NO_PROXY) the proxy resolves
and connects: a name that does not exist for this machine's resolver is left to it, what this
machine can resolve is still checked, and a proxied request may connect to the proxy's own (often
private) address and port. Which hops go through the proxy is decided once, by :func:`proxy_for`,
for the guard and for httpx alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import os
import socket
import ssl
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from kairo_ray.errors import PermanentError, TransientError
from kairo_ray.settings import Settings

FileKind = Literal["pdf", "png", "jpeg", "tiff", "webp", "bmp"]

MAX_REDIRECTS = 5
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
_DEFAULT_PROXY_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
_CHUNK = 64 * 1024
_SNIFF_BYTES = 1024


def detect_kind(head: bytes) -> FileKind | None:
    """The file type from its first bytes, or None when it is none of the supported kinds.

    PDF readers accept a ``%PDF-`` header anywhere in the first 1024 bytes, so we do too.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    if b"%PDF-" in head[:_SNIFF_BYTES]:
        return "pdf"
    return None


def require_kind(head: bytes, declared: str | None = None) -> FileKind:
    """Like :func:`detect_kind`, but an unknown type is a :class:`PermanentError`."""
    if not head:
        raise PermanentError("empty file (0 bytes)")
    kind = detect_kind(head)
    if kind is None:
        label = f" (declared {declared!r})" if declared else ""
        # The file's bytes are not quoted: the message reaches API callers.
        raise PermanentError(
            f"unsupported file type{label}: not a PDF, PNG, JPEG, TIFF, WebP or BMP"
        )
    return kind


@dataclass
class FetchedFile:
    """A fetched document in TEMP_DIR; use it as a context manager or call :meth:`cleanup`."""

    path: Path
    size: int
    sha256: str
    kind: FileKind
    source: str
    _removed: bool = field(default=False, repr=False)

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def cleanup(self) -> None:
        """Delete the temporary file; safe to call twice."""
        if not self._removed:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._removed = True

    def __enter__(self) -> FetchedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    async def __aenter__(self) -> FetchedFile:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cleanup()


class _Sink:
    """Writes chunks to a temp file, hashing them and enforcing the size cap as they arrive."""

    def __init__(self, settings: Settings) -> None:
        settings.temp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="fetch-", suffix=".bin", dir=settings.temp_dir)
        self.file = os.fdopen(fd, "wb")
        self.path = Path(name)
        self.limit = settings.max_file_size_bytes
        self.limit_mb = settings.max_file_size_mb
        self.size = 0
        self.head = b""
        self.digest = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise PermanentError(
                f"file too large: more than MAX_FILE_SIZE_MB={self.limit_mb:g} MB "
                f"({self.limit} bytes)"
            )
        if len(self.head) < _SNIFF_BYTES:
            self.head += chunk[: _SNIFF_BYTES - len(self.head)]
        self.digest.update(chunk)
        self.file.write(chunk)

    def finish(self, source: str, declared: str | None) -> FetchedFile:
        self.file.close()
        kind = require_kind(self.head, declared)
        return FetchedFile(self.path, self.size, self.digest.hexdigest(), kind, source)

    def discard(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _normalized(address: str) -> str:
    """An address as compared here: no IPv6 zone, IPv4-mapped IPv6 as IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _blocked_address(address: str) -> bool:
    """Anything not globally routable: also 100.64.0.0/10 (CGNAT, Tailscale, some clouds'
    metadata service), documentation and benchmarking ranges."""
    ip = ipaddress.ip_address(_normalized(address))
    return (
        not ip.is_global
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def _allow_listed(url: str, settings: Settings) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    allowed = {h.lower() for h in settings.fetch_allowed_hosts}
    return host in allowed or bool(parts.port and f"{host}:{parts.port}" in allowed)


def check_peer(
    response: httpx.Response, url: str, settings: Settings, proxy: frozenset[tuple[str, int]]
) -> None:
    """Refuse a response whose connection went to a non-public address (DNS rebinding: the name
    resolved to a public address for :func:`check_host`, then to a private one for the connect).
    ``proxy``: the (address, port) pairs of the proxy this hop was sent through, where it
    connects. Checked before any of the body is read."""
    if _allow_listed(url, settings):
        return
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer or (_normalized(str(peer[0])), int(peer[1])) in proxy:
        return
    if _blocked_address(str(peer[0])):
        raise PermanentError(
            f"refused URL: {_redact(url)} connected to non-public address {peer[0]} "
            "(add the host to FETCH_ALLOWED_HOSTS if intended)"
        )


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, less
    NO_PROXY, read as Python's urllib reads them), None for a direct connection. A proxy given
    without a scheme is an HTTP proxy, as curl takes it."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


async def _resolve(host: str, port: int) -> frozenset[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return frozenset(_normalized(str(info[4][0])) for info in infos)


async def check_host(
    url: str, settings: Settings, *, via_proxy: bool = False
) -> frozenset[str] | None:
    """Refuse URLs whose host resolves to a non-public address (SSRF), unless allow-listed.

    Returns the addresses checked, to connect to one of them; None when the host is
    allow-listed or left to the proxy. ``via_proxy``: the proxy resolves the name, so one that
    does not exist for this machine's resolver is the proxy's to judge (a resolver failure is
    not: that is transient); one that resolves here is checked all the same.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise PermanentError(f"URL has no host: {_redact(url)}")
    if _allow_listed(url, settings):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await _resolve(host, port)
    except socket.gaierror as exc:
        if via_proxy and exc.errno in _NO_SUCH_NAME:
            return None
        raise TransientError(f"cannot resolve host {host!r}: {exc}") from exc
    for address in sorted(addresses):
        if _blocked_address(address):
            raise PermanentError(
                f"refused URL: host {host!r} resolves to non-public address {address} "
                "(add it to FETCH_ALLOWED_HOSTS if intended)"
            )
    return None if via_proxy else addresses


def pinned_request(url: str, addresses: frozenset[str] | None) -> tuple[str, dict, dict]:
    """(URL, headers, extensions) that connect to one of the checked ``addresses`` while the
    server still sees the name: the Host header, and for https the TLS server name (SNI), which
    the certificate is verified against. Unchanged when there is nothing to pin."""
    if not addresses:
        return url, {}, {}
    parts = urlsplit(url)
    address = min(addresses, key=lambda a: (":" in a, a))  # IPv4 first, then a stable order
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    host = parts.hostname or ""
    headers = {"Host": host if parts.port is None else f"{host}:{parts.port}"}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), headers, extensions


def _classify_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    where = _redact(url)
    if status in (408, 425, 429) or status >= 500:
        raise TransientError(f"HTTP {status} from {where}")
    raise PermanentError(f"HTTP {status} from {where}: the file cannot be downloaded")


async def _download(url: str, settings: Settings, declared: str | None) -> FetchedFile:
    timeout = httpx.Timeout(settings.fetch_timeout_seconds)
    # The environment's CA settings as httpx reads them; its proxy variables only through
    # proxy_for, so that the guard and the connection follow the same decision.
    tls = httpx.create_ssl_context(trust_env=True)
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        proxy = proxy_for(current)
        checked = await check_host(current, settings, via_proxy=proxy is not None)
        target, headers, extensions = pinned_request(current, checked)
        proxy_peers = await _proxy_peers(proxy)
        sink = _Sink(settings)
        try:
            async with (
                _client(proxy, timeout, tls) as client,
                client.stream("GET", target, headers=headers, extensions=extensions) as response,
            ):
                check_peer(response, current, settings, proxy_peers)
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise PermanentError(f"HTTP {response.status_code} without Location")
                    sink.discard()
                    current = urljoin(current, location)
                    if urlsplit(current).scheme not in ("http", "https"):
                        raise PermanentError(f"refused redirect to {_redact(current)}")
                    continue
                _classify_status(response, current)
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > sink.limit:
                    raise PermanentError(
                        f"file too large: {int(length)} bytes, more than "
                        f"MAX_FILE_SIZE_MB={settings.max_file_size_mb:g} MB"
                    )
                async for chunk in response.aiter_bytes(_CHUNK):
                    sink.write(chunk)
            return sink.finish(url, declared)
        except httpx.TimeoutException as exc:
            sink.discard()
            raise TransientError(f"timeout fetching {_redact(current)}: {exc!r}") from exc
        except httpx.HTTPError as exc:
            sink.discard()
            raise TransientError(f"network error fetching {_redact(current)}: {exc!r}") from exc
        except BaseException:
            sink.discard()
            raise
    raise PermanentError(f"more than {MAX_REDIRECTS} redirects from {_redact(url)}")


def _client(proxy: str | None, timeout: httpx.Timeout, tls: ssl.SSLContext) -> httpx.AsyncClient:
    """A client for one hop: through ``proxy`` or direct, never by its own reading of the
    environment. An unusable proxy setting (a SOCKS proxy without socksio, a malformed URL) is
    a TransientError naming the variables, without the URL, which may hold a password."""
    try:
        return httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, verify=tls, proxy=proxy
        )
    except (ImportError, ValueError, httpx.InvalidURL) as exc:
        raise TransientError(
            f"cannot use the proxy that HTTP_PROXY/HTTPS_PROXY/ALL_PROXY name: {type(exc).__name__}"
        ) from None


async def _proxy_peers(proxy: str | None) -> frozenset[tuple[str, int]]:
    """Where a request through ``proxy`` connects: the peers :func:`check_peer` lets through."""
    if proxy is None:
        return frozenset()
    parts = urlsplit(proxy)
    try:
        port = parts.port or _DEFAULT_PROXY_PORTS.get(parts.scheme.lower(), 80)
    except ValueError:  # not echoed: the URL may hold a password
        raise TransientError(
            "malformed proxy URL in HTTP_PROXY/HTTPS_PROXY/ALL_PROXY (bad port)"
        ) from None
    try:
        addresses = await _resolve(parts.hostname or "", port)
    except socket.gaierror as exc:
        raise TransientError(f"cannot resolve the proxy's host {parts.hostname!r}: {exc}") from exc
    return frozenset((address, port) for address in addresses)


def _redact(url: str) -> str:
    """Signed URLs carry their token in the query: never put it in an error message."""
    return urlsplit(url)._replace(query="").geturl()


def _copy_local(path: Path, settings: Settings, source: str, declared: str | None) -> FetchedFile:
    if not path.is_file():
        raise PermanentError(f"file not found: {path}")
    sink = _Sink(settings)
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                sink.write(chunk)
        return sink.finish(source, declared)
    except OSError as exc:
        sink.discard()
        raise PermanentError(f"cannot read {path}: {exc}") from exc
    except BaseException:
        sink.discard()
        raise


def check_local_path(path: Path, settings: Settings) -> None:
    """Refuse a local path unless this deployment means to read local files: with DATABASE_URL
    set a file_url comes from Kairo's users, and ``file:///etc/shadow`` would read this server's
    disk. FETCH_LOCAL_DIRS confines local paths to those directories (symlinks resolved)."""
    if not settings.local_paths_allowed:
        why = (
            "FETCH_ALLOW_LOCAL_PATHS=false"
            if settings.fetch_allow_local_paths is False
            else "DATABASE_URL is set: file_url comes from users; FETCH_LOCAL_DIRS allows "
            "named directories"
        )
        raise PermanentError(f"refused local path: local files are not read here ({why})")
    if settings.fetch_local_dirs:
        resolved = path.expanduser().resolve()
        allowed = [d.expanduser().resolve() for d in settings.fetch_local_dirs]
        if not any(resolved.is_relative_to(d) for d in allowed):
            raise PermanentError("refused local path: outside FETCH_LOCAL_DIRS")


async def fetch(url_or_path: str, settings: Settings, file_type: str | None = None) -> FetchedFile:
    """Fetch a document into TEMP_DIR and identify it; the caller cleans it up.

    ``file_type`` (the declared MIME type) is only used in error messages: the bytes decide.
    """
    parts = urlsplit(url_or_path)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        try:
            async with asyncio.timeout(settings.fetch_deadline_seconds):
                return await _download(url_or_path, settings, file_type)
        except TimeoutError:
            raise TransientError(
                f"download of {_redact(url_or_path)} took longer than "
                f"FETCH_DEADLINE_SECONDS={settings.fetch_deadline_seconds:g}"
            ) from None
    if scheme in ("file", ""):
        path = Path(unquote(parts.path)) if scheme == "file" else Path(url_or_path)
        check_local_path(path, settings)
        return await asyncio.to_thread(_copy_local, path, settings, url_or_path, file_type)
    raise PermanentError(f"unsupported URL scheme {scheme!r}: only http(s) and local paths")
