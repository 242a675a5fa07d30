"""Who is calling the HTTP API: the admin, Kairo's back end (the service), or a Supabase user.

Credentials are bearer tokens in ``Authorization``:

* ``API_ADMIN_TOKEN``: everything, admin routes included.
* ``API_SERVICE_TOKEN`` (or the token ``kairo-ray up`` keeps in ``DATA_DIR/api_service_token``):
  every document; ``X-Kairo-User-Id`` scopes a call to one user, as if that user had called.
* A Supabase access token (JWT), verified here without calling Supabase: HS256 with the
  project's JWT secret, ES256/RS256 with configured public keys or the project's JWKS (cached).
  Expiry, audience and, when configured, issuer are checked; ``sub`` is the user id.

Verification uses PyJWT: it is maintained, implements exactly these algorithms and JWKS with a
key cache, and refuses ``alg: none`` and algorithm confusion when the allowed list is given.
Nothing here knows FastAPI or Ray; the API turns :class:`AuthError` into its HTTP status.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt

from kairo_ray.errors import KairoError
from kairo_ray.settings import Settings, secret

SERVICE_TOKEN_FILE = "api_service_token"
SCOPE_HEADER = "x-kairo-user-id"
ASYMMETRIC = ("ES256", "RS256")

Kind = Literal["admin", "service", "user"]


class AuthError(KairoError):
    """The caller is not allowed: ``status`` 401 (who are you?) or 403 (not this)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``user_id`` set: sees that user's documents only."""

    kind: Kind
    user_id: str | None = None

    @property
    def scoped(self) -> bool:
        return self.user_id is not None

    @property
    def rate_key(self) -> str | None:
        """Whose quota a call spends: the user's, whoever calls for them; None: not limited."""
        return f"user:{self.user_id}" if self.user_id else None


def service_token_path(settings: Settings) -> Path:
    return settings.data_dir.expanduser() / SERVICE_TOKEN_FILE


def ensure_service_token(settings: Settings) -> Path | None:
    """Create this machine's service token file (owner-only) unless API_SERVICE_TOKEN is set.

    One machine's CLI and API then share a credential without configuration; a cluster whose
    API runs elsewhere sets API_SERVICE_TOKEN on every node instead.
    """
    if settings.api_service_token is not None:
        return None
    path = service_token_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path


def service_token(settings: Settings) -> str | None:
    """API_SERVICE_TOKEN, else the token file ``kairo-ray up`` made on this machine."""
    if settings.api_service_token is not None:
        return secret(settings.api_service_token)
    try:
        return service_token_path(settings).read_text().strip() or None
    except OSError:
        return None


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "missing credentials: send Authorization: Bearer <token>")
    return token.strip()


def _same(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


class Authenticator:
    """Turns a request's headers into a :class:`Principal` or an :class:`AuthError`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin = secret(settings.api_admin_token)
        self._service = service_token(settings)
        self._jwt_secret = secret(settings.supabase_jwt_secret)
        self._static_keys = _load_public_keys(settings.supabase_jwt_public_keys)
        self._jwks = (
            jwt.PyJWKClient(
                settings.supabase_jwks_url,
                cache_jwk_set=True,
                lifespan=settings.jwks_cache_seconds,
                timeout=10,
            )
            if settings.supabase_jwks_url
            else None
        )

    @property
    def accepts_users(self) -> bool:
        return bool(self._jwt_secret or self._static_keys or self._jwks)

    def authenticate(self, authorization: str | None, scope: str | None = None) -> Principal:
        """The caller behind ``Authorization``; ``scope`` is the X-Kairo-User-Id header."""
        token = _bearer(authorization)
        if _same(token, self._admin):
            return Principal("admin", _user_id(scope) if scope else None)
        if _same(token, self._service):
            return Principal("service", _user_id(scope) if scope else None)
        if token.count(".") != 2:
            raise AuthError(401, "invalid credentials")
        if scope:
            raise AuthError(403, "X-Kairo-User-Id is for the service credential, not users")
        return Principal("user", self._verify_user(token))

    def _verify_user(self, token: str) -> str:
        if not self.accepts_users:
            raise AuthError(401, "invalid credentials (user tokens are not configured here)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError(401, "invalid credentials: malformed token") from None
        algorithm = header.get("alg")
        key = self._key_for(algorithm, header.get("kid"))
        options = {"require": ["exp", "sub"], "verify_aud": True}
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._settings.supabase_jwt_audience,
                issuer=self._settings.supabase_jwt_issuer,
                options=options,
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "expired token") from None
        except jwt.InvalidAudienceError:
            raise AuthError(401, "token for another audience") from None
        except jwt.PyJWTError:
            raise AuthError(401, "invalid token") from None
        return _user_id(str(claims["sub"]))

    def _key_for(self, algorithm: object, kid: object) -> Any:
        if algorithm == "HS256" and self._jwt_secret:
            return self._jwt_secret
        if algorithm in ASYMMETRIC:
            for key in self._static_keys:
                if (kid is None or key.key_id in (None, kid)) and key.algorithm_name in (
                    None,
                    algorithm,
                ):
                    return key.key
            if self._jwks is not None:
                try:
                    return self._jwks.get_signing_key(str(kid)).key
                except jwt.PyJWKClientError:
                    raise AuthError(401, "invalid token: unknown signing key") from None
        raise AuthError(401, f"invalid token: algorithm {algorithm!r} is not accepted here")


@dataclass(frozen=True)
class _PublicKey:
    key: Any
    key_id: str | None
    algorithm_name: str | None


def _load_public_keys(text: str | None) -> list[_PublicKey]:
    """SUPABASE_JWT_PUBLIC_KEYS: a JWKS document, one JWK, or PEM public keys."""
    if not text or not text.strip():
        return []
    text = text.strip()
    if text.startswith("{"):
        data = json.loads(text)
        keys = data.get("keys", [data])
        loaded = []
        for item in keys:
            jwk = jwt.PyJWK(item)
            loaded.append(_PublicKey(jwk.key, item.get("kid"), item.get("alg")))
        return loaded
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    blocks = text.split("-----END PUBLIC KEY-----")
    return [
        _PublicKey(load_pem_public_key((block + "-----END PUBLIC KEY-----").encode()), None, None)
        for block in blocks
        if "-----BEGIN PUBLIC KEY-----" in block
    ]


def _user_id(value: str) -> str:
    """Supabase user ids are UUIDs; anything else is refused, never used in a query."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise AuthError(403, "not a user id (a UUID is expected)") from None
