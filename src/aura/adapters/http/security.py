"""Optional API-key authentication and CORS (both off by default).

- **API keys**: with keys configured, every request except the probes `GET /health` and `GET /ready`
  (and CORS preflights) must carry `Authorization: Bearer <key>`; otherwise 401 in the OpenAI error shape. Keys are
  compared in constant time: both sides are hashed to fixed-length digests first (so the length of a
  key leaks nothing) and the presented key is compared with every configured key without stopping
  at a match. Keys never appear in logs, error messages or `repr(ServerOptions)`.
- **CORS**: off unless origins are configured. Allowed origins get `Access-Control-Allow-Origin`
  on every response (added just before the headers are sent, so SSE streams get it too) and
  preflight requests are answered here, before authentication, because browsers never send
  credentials on a preflight.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from aura.adapters.http.errors import INVALID_REQUEST, ApiError, Handler

OPEN_PATHS = frozenset({"/health", "/ready"})
AUTH_ERROR_CODE = "invalid_api_key"
MISSING_KEY_MESSAGE = "Missing API key. Send it in the Authorization header as 'Authorization: Bearer <key>'."
MALFORMED_HEADER_MESSAGE = "Malformed Authorization header. Send the API key as 'Authorization: Bearer <key>'."
INVALID_KEY_MESSAGE = "Incorrect API key provided."
EXPOSED_HEADERS = "X-Chat-Session-Id"
ALLOWED_METHODS = "GET, POST, OPTIONS"
DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type, X-Chat-Session-Id, X-OpenWebUI-Chat-Id"
PREFLIGHT_MAX_AGE_SECS = 600
ANY_ORIGIN = "*"

# RFC 7230 token characters: what a header name list may contain (we echo requested names back).
_HEADER_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")
_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s?#]+$")


def invalid_api_key_reason(key: str) -> str | None:
    """Why `key` cannot be an API key (never quoting it), or None when it can."""
    if not key:
        return "it is empty"
    if not all("!" <= char <= "~" for char in key):
        return "it contains whitespace or characters outside printable ASCII"
    return None


def invalid_origin_reason(origin: str) -> str | None:
    """Why `origin` is not a CORS origin (`*` or `scheme://host[:port]`), or None when it is."""
    if origin == ANY_ORIGIN or _ORIGIN.match(origin):
        return None
    return "expected '*' or scheme://host[:port] without a path or trailing slash, e.g. https://chat.example.com"


class ApiKeyVerifier:
    """Constant-time check of a presented key against the configured ones."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(key) for key in keys)
        if not self._digests:
            raise ValueError("ApiKeyVerifier needs at least one key")

    def __repr__(self) -> str:
        return f"ApiKeyVerifier(<{len(self._digests)} key(s)>)"

    def verify(self, presented: str) -> bool:
        digest = _digest(presented)
        matched = False
        for known in self._digests:  # no early exit: timing does not tell which key matched
            matched |= hmac.compare_digest(known, digest)
        return matched


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def _unauthorized(message: str, *, invalid_token: bool) -> web.Response:
    challenge = 'Bearer realm="aura"' + (', error="invalid_token"' if invalid_token else "")
    return ApiError(401, message, INVALID_REQUEST, None, AUTH_ERROR_CODE).response({"WWW-Authenticate": challenge})


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>`; "" when the header is there but malformed."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return ""
    return token


def api_key_auth(verifier: ApiKeyVerifier) -> Middleware:
    """Answer 401 (OpenAI error shape) to any request without a valid key, except the probes and preflights."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or is_preflight(request):
            return await handler(request)
        token = bearer_token(request)
        if token is None:
            return _unauthorized(MISSING_KEY_MESSAGE, invalid_token=False)
        if not token:
            return _unauthorized(MALFORMED_HEADER_MESSAGE, invalid_token=True)
        if not verifier.verify(token):
            return _unauthorized(INVALID_KEY_MESSAGE, invalid_token=True)
        return await handler(request)

    return authenticate


def is_preflight(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


class CorsPolicy:
    """Which browser origins may call the API; `*` allows any."""

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = frozenset(origins)
        self.any_origin = ANY_ORIGIN in self.origins

    def allowed(self, origin: str | None) -> str | None:
        """The `Access-Control-Allow-Origin` value for `origin`, or None when it is not allowed."""
        if origin is None:
            return None
        if self.any_origin:
            return ANY_ORIGIN
        return origin if origin in self.origins else None

    def middleware(self) -> Middleware:
        """Answers preflight requests: 204 with the CORS headers, or 403 for an origin not on the list."""

        @web.middleware
        async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not is_preflight(request):
                return await handler(request)
            allow_origin = self.allowed(request.headers.get(hdrs.ORIGIN))
            if allow_origin is None:
                return ApiError(
                    403, "CORS: this origin is not allowed", INVALID_REQUEST, None, "origin_not_allowed"
                ).response()
            requested = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "").strip()
            allow_headers = requested if requested and _HEADER_LIST.match(requested) else DEFAULT_ALLOWED_HEADERS
            return web.Response(
                status=204,
                headers={
                    hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: allow_origin,
                    hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOWED_METHODS,
                    hdrs.ACCESS_CONTROL_ALLOW_HEADERS: allow_headers,
                    hdrs.ACCESS_CONTROL_MAX_AGE: str(PREFLIGHT_MAX_AGE_SECS),
                    hdrs.VARY: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
                },
            )

        return preflight

    async def add_response_headers(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """`on_response_prepare` hook: CORS headers on every response to an allowed origin (streams too)."""
        allow_origin = self.allowed(request.headers.get(hdrs.ORIGIN))
        if allow_origin is None:
            return
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = allow_origin
        response.headers.setdefault(hdrs.ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED_HEADERS)
        if not self.any_origin:
            vary = response.headers.get(hdrs.VARY, "")
            if "origin" not in vary.lower():
                response.headers[hdrs.VARY] = f"{vary}, Origin" if vary else "Origin"
