"""Credentials: the admin and service tokens, and Supabase users' access tokens verified here.

The signing keys and the JWKS endpoint stand in for a Supabase project's (an internet host that
cannot exist here): tokens are signed as Supabase's auth server signs them, HS256 with the
project's secret or ES256/RS256 with its asymmetric key, and the JWKS document is served from a
local HTTP server. The verification code under test is the real one.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kairo_ray.auth import Authenticator, AuthError, ensure_service_token, service_token
from kairo_ray.settings import load_settings

SECRET = "project-jwt-secret-of-at-least-thirty-two-bytes"
USER = str(uuid.uuid4())


def _token(key: object, algorithm: str, **claims: object) -> str:
    now = int(time.time())
    payload = {"sub": USER, "aud": "authenticated", "iat": now, "exp": now + 600, **claims}
    headers = {"kid": claims.pop("kid")} if "kid" in claims else None
    payload.pop("kid", None)
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def _auth(tmp_path: Path, **settings: object) -> Authenticator:
    values = {"api_admin_token": "admin-token", "api_service_token": "service-token"}
    return Authenticator(load_settings(_env_file=None, data_dir=tmp_path, **values, **settings))


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def test_admin_service_and_scoped_service(tmp_path: Path) -> None:
    auth = _auth(tmp_path)
    assert auth.authenticate(_bearer("admin-token")).kind == "admin"
    service = auth.authenticate(_bearer("service-token"))
    assert (service.kind, service.user_id, service.rate_key) == ("service", None, None)
    scoped = auth.authenticate(_bearer("service-token"), scope=USER)
    assert (scoped.user_id, scoped.rate_key) == (USER, f"user:{USER}")
    with pytest.raises(AuthError, match="UUID") as refused:
        auth.authenticate(_bearer("service-token"), scope="1 OR 1=1")
    assert refused.value.status == 403
    for header in (None, "", "Basic YWRtaW4=", "Bearer", "Bearer wrong-token"):
        with pytest.raises(AuthError) as refused:
            auth.authenticate(header)
        assert refused.value.status == 401


def test_a_supabase_hs256_token(tmp_path: Path) -> None:
    auth = _auth(tmp_path, supabase_jwt_secret=SECRET)
    user = auth.authenticate(_bearer(_token(SECRET, "HS256")))
    assert (user.kind, user.user_id) == ("user", USER)
    cases = {
        "expired": _token(SECRET, "HS256", exp=int(time.time()) - 120),
        "another audience": _token(SECRET, "HS256", aud="anon"),
        "invalid": _token("another-secret-of-at-least-thirty-two-bytes", "HS256"),
    }
    for expected, token in cases.items():
        with pytest.raises(AuthError, match=expected.split()[0]) as refused:
            auth.authenticate(_bearer(token))
        assert refused.value.status == 401
    unsigned = jwt.encode({"sub": USER, "aud": "authenticated", "exp": 2**31}, None, "none")
    with pytest.raises(AuthError, match="not accepted"):
        auth.authenticate(_bearer(unsigned))
    no_expiry = jwt.encode({"sub": USER, "aud": "authenticated"}, SECRET, "HS256")
    with pytest.raises(AuthError, match="invalid token"):
        auth.authenticate(_bearer(no_expiry))
    with pytest.raises(AuthError) as refused:
        auth.authenticate(_bearer(_token(SECRET, "HS256")), scope=str(uuid.uuid4()))
    assert refused.value.status == 403, "a user cannot act for another"


def test_user_tokens_are_refused_where_none_are_configured(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="not configured"):
        _auth(tmp_path).authenticate(_bearer(_token(SECRET, "HS256")))


def test_es256_with_a_configured_public_key(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    auth = _auth(tmp_path, supabase_jwt_public_keys=pem.decode(), supabase_jwt_secret=SECRET)
    assert auth.authenticate(_bearer(_token(private, "ES256"))).user_id == USER
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(AuthError, match="invalid token"):
        auth.authenticate(_bearer(_token(other, "ES256")))
    # Algorithm confusion: a token HMAC-signed with the public key (which anyone may hold) is
    # checked against the project's secret, never against that key.
    with pytest.raises(AuthError, match="invalid token"):
        auth.authenticate(_bearer(_hmac_token(pem)))


def _hmac_token(key: bytes) -> str:
    """An HS256 token signed with ``key`` by hand (PyJWT itself refuses a PEM as a secret)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": USER, "aud": "authenticated", "exp": int(time.time()) + 600}
    body = b64(json.dumps(claims).encode())
    signature = b64(hmac.new(key, header + b"." + body, hashlib.sha256).digest())
    return (header + b"." + body + b"." + signature).decode()


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey, list[int]]]:
    """A local stand-in for https://PROJECT.supabase.co/auth/v1/.well-known/jwks.json."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "key-1", "alg": "RS256", "use": "sig"}]}).encode()
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", private, hits
    server.shutdown()


def test_rs256_from_the_projects_jwks_cached(tmp_path: Path, jwks_server) -> None:
    url, private, hits = jwks_server
    auth = _auth(tmp_path, supabase_jwks_url=url)
    for _ in range(3):
        assert auth.authenticate(_bearer(_token(private, "RS256", kid="key-1"))).user_id == USER
    assert len(hits) == 1, "the key set is fetched once and cached"
    with pytest.raises(AuthError, match="unknown signing key"):
        auth.authenticate(_bearer(_token(private, "RS256", kid="key-2")))


def test_this_machines_service_token_is_created_owner_only_once(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path)
    path = ensure_service_token(settings)
    assert path is not None and oct(path.stat().st_mode & 0o777) == "0o600"
    token = service_token(settings)
    assert token and len(token) >= 32
    ensure_service_token(settings)
    assert service_token(settings) == token
    configured = load_settings(_env_file=None, data_dir=tmp_path, api_service_token="mine")
    assert ensure_service_token(configured) is None and service_token(configured) == "mine"
