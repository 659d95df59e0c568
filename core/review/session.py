"""How a browser signs in to the review page without ever holding the service token in script.

The page's address carries the token once (``/review/<shot>?token=...``, as `facegraft review` prints it).
The service answers with a redirect to the same address without it and sets a cookie derived from the
token (HttpOnly, SameSite=Strict, named for the port): script cannot read it, other sites cannot send it,
and it opens the review page and its API only (``/review/...``, ``/v1/review/...``), on loopback only.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

COOKIE_PREFIX = "facegraft_review_"
PAGE_PREFIX = "/review/"
API_PREFIX = "/v1/review/"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
# The page and its API must not leak the address (which may still hold the token) or be cached.
PRIVATE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def cookie_name(request: Request) -> str:
    """One cookie per service port: cookies ignore ports, and two services have two tokens."""
    return f"{COOKIE_PREFIX}{request.url.port or 0}"


def cookie_value(token: str) -> str:
    """The cookie's value: an HMAC of the token, so the cookie cannot be replayed as the token itself."""
    return hmac.new(token.encode(), b"facegraft review page", hashlib.sha256).hexdigest()


def _on_loopback(request: Request) -> bool:
    return (request.url.hostname or "") in LOOPBACK_HOSTS


def session_authorised(request: Request, token: str) -> bool:
    """Whether a review request carries the review cookie of this service (the API's token check aside)."""
    path = request.url.path
    if not (path.startswith(PAGE_PREFIX) or path.startswith(API_PREFIX)) or not _on_loopback(request):
        return False
    given = request.cookies.get(cookie_name(request), "")
    return bool(given) and hmac.compare_digest(given.encode(), cookie_value(token).encode())


def session_login(request: Request, token: str) -> Response | None:
    """For ``GET /review/...?token=<the token>``: a redirect to the address without the token that sets
    the review cookie; None for any other request (a wrong token falls through to the 401)."""
    if request.method != "GET" or not request.url.path.startswith(PAGE_PREFIX) or not _on_loopback(request):
        return None
    given = request.query_params.get("token", "")
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return None
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    raw = request.scope.get("raw_path") or request.url.path.encode()
    target = raw.decode("latin-1") + (f"?{urlencode(rest)}" if rest else "")
    response = RedirectResponse(target, status_code=303, headers=PRIVATE_HEADERS)
    response.set_cookie(cookie_name(request), cookie_value(token), httponly=True, samesite="strict", path="/")
    return response
