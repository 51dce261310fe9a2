"""Globus Auth, as far as clients of the other services need it: client-credentials tokens for
the emulator's service identity, bearer-token checks, and who that identity is.

Tokens are random, expire (48 hours, as Globus Auth's do), and are kept only as their sha256,
so the state directory holds no usable token. One token per resource server, with the others
in ``other_tokens``, as the token endpoint answers; the resource server of a scope is worked
out the way Globus names them, and a token opens only the service of its resource server."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

from palxfel_globus.emulator.api import ApiError, Route

TOKEN_LIFETIME = 48 * 3600
IDENTITY_DOMAIN = "clients.auth.globus.org"
# Services whose scopes are named by a client id but whose resource server is not that id.
_RESOURCE_SERVER_OF_CLIENT = {
    "eec9b274-0c81-4334-bdc2-54e90e689b9a": "flows.globus.org",
    "facd7ccc-c5f4-42aa-916b-a0e270e2c2a9": "funcx_service",
}
_OIDC_SCOPES = {"openid", "profile", "email"}


def resource_server(scope: str) -> str:
    """``urn:globus:auth:scope:RS:name`` -> RS; ``https://auth.globus.org/scopes/ID/name`` -> ID (or the
    named resource server of that client); the OpenID scopes belong to Auth."""
    if scope in _OIDC_SCOPES:
        return "auth.globus.org"
    if scope.startswith("urn:globus:auth:scope:"):
        return scope.split(":")[4]
    prefix = "https://auth.globus.org/scopes/"
    if scope.startswith(prefix):
        owner = scope[len(prefix) :].split("/", 1)[0]
        return _RESOURCE_SERVER_OF_CLIENT.get(owner, owner)
    raise ApiError(400, "invalid_scope", f"{scope!r} is not a Globus scope.")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity(emulator: Any) -> dict[str, Any]:
    client_id = emulator.client_id
    return {
        "id": client_id,
        "username": f"{client_id}@{IDENTITY_DOMAIN}",
        "name": "palxfel-globus local serve",
        "email": None,
        "identity_provider": "7daddf46-70c5-45ee-9f0f-7244fe7c8707",
        "organization": None,
        "status": "used",
    }


def check_bearer(emulator: Any, request: Any, resource_server: str) -> tuple[str, str, float]:
    """The token's (resource server, scope, expiry), or the 401 a Globus service gives for a missing,
    unknown or expired token, and for one issued for another resource server: a Transfer token
    opens Transfer only, as Globus Auth's audience check makes it."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "AUTHENTICATION_ERROR", "No Bearer token in the Authorization header.")
    found = emulator.store.token(_hash(header[len("Bearer ") :].strip()))
    if found is None:
        raise ApiError(401, "AUTHENTICATION_ERROR", "The Bearer token is not one this service issued.")
    if found[2] <= time.time():
        raise ApiError(401, "AUTHENTICATION_ERROR", "The Bearer token has expired.")
    if found[0] != resource_server:
        raise ApiError(
            401,
            "AUTHENTICATION_ERROR",
            f"The Bearer token was issued for {found[0]}, not for {resource_server}; ask for a token with "
            "this service's scope.",
        )
    return found


def check_client(emulator: Any, request: Any) -> None:
    """The emulator's own credentials (its client id and secret, HTTP Basic), as the token endpoint
    and Globus Auth's introspection take a confidential client's."""
    header = request.headers.get("Authorization", "")
    given = ("", "")
    if header.startswith("Basic "):
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            given = (user, password)
        except (ValueError, UnicodeDecodeError):
            pass
    if not (secrets.compare_digest(given[0], emulator.client_id) and secrets.compare_digest(given[1], emulator.secret)):
        raise ApiError(
            401, "UNAUTHORIZED", "Unknown client id or wrong client secret (see env.sh).", error="invalid_client"
        )


def token(emulator: Any, request: Any) -> dict[str, Any]:
    """Client-credentials tokens, one per resource server, the first at the top and the rest in
    ``other_tokens`` (the SDK's oauth2_client_credentials_tokens data; no ``state`` in this grant)."""
    from globus_sdk.scopes import ScopeParser

    check_client(emulator, request)
    if request.form.get("grant_type") != "client_credentials":
        raise ApiError(
            400,
            "UNSUPPORTED_GRANT_TYPE",
            "This Auth answers the client_credentials grant only.",
            error="unsupported_grant_type",
        )
    by_server: dict[str, list[str]] = {}
    for scope in ScopeParser.parse(request.form.get("scope") or "openid"):
        by_server.setdefault(resource_server(scope.scope_string), []).append(scope.scope_string)
    now = time.time()
    tokens = []
    for server, scopes in by_server.items():
        value = secrets.token_urlsafe(32)
        emulator.store.add_token(_hash(value), server, " ".join(scopes), now + TOKEN_LIFETIME)
        tokens.append(
            {
                "access_token": value,
                "scope": " ".join(scopes),
                "expires_in": TOKEN_LIFETIME,
                "token_type": "Bearer",
                "resource_server": server,
            }
        )
    first, *others = tokens
    return {**first, "other_tokens": [dict(other, other_tokens=[]) for other in others]}


def introspect(emulator: Any, request: Any) -> dict[str, Any]:
    """Token introspection for the emulator's own client (what 'globus session show' asks), in the
    SDK's oauth2_token_introspect shape; an unknown or expired token is ``{"active": false}``.
    ``include=session_info`` names the service identity's own authentication, at the token's issue
    (UNVERIFIED what Globus Auth shows for a client identity's session)."""
    check_client(emulator, request)
    value = request.form.get("token") or ""
    found = emulator.store.token(_hash(value))
    if found is None or found[2] <= time.time():
        return {"active": False}
    server, scope, expires = found
    issued = int(expires - TOKEN_LIFETIME)
    who = identity(emulator)
    answer: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "scope": scope,
        "client_id": emulator.client_id,
        "username": who["username"],
        "name": who["name"],
        "email": who["email"],
        "exp": int(expires),
        "iat": issued,
        "nbf": issued,
        "sub": who["id"],
        "aud": sorted({server, emulator.client_id}),
        "iss": "https://auth.globus.org",
    }
    includes = (request.form.get("include") or "").split(",")
    if "identity_set" in includes:
        answer["identity_set"] = [who["id"]]
    if "session_info" in includes:
        authentication = {"auth_time": issued, "idp": who["identity_provider"]}
        answer["session_info"] = {"session_id": None, "authentications": {who["id"]: authentication}}
    return answer


def userinfo(emulator: Any, request: Any) -> dict[str, Any]:
    who = identity(emulator)
    return {
        "sub": who["id"],
        "preferred_username": who["username"],
        "name": who["name"],
        "email": None,
        "identity_provider": who["identity_provider"],
        "identity_set": [dict(who, sub=who["id"])],
    }


def identities(emulator: Any, request: Any) -> dict[str, Any]:
    who = identity(emulator)
    wanted = {value for key in ("ids", "usernames") for value in (request.args.get(key) or "").split(",") if value}
    return {"identities": [who] if not wanted or wanted & {who["id"], who["username"]} else []}


ROUTES = [
    Route("auth", "/v2/oauth2/token", ("POST",), token, public=True),
    Route("auth", "/v2/oauth2/token/introspect", ("POST",), introspect, public=True),
    Route("auth", "/v2/oauth2/userinfo", ("GET", "POST"), userinfo),
    Route("auth", "/v2/api/identities", ("GET",), identities),
]
