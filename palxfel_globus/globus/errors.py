"""Globus API errors as one sentence that says what to do (never a token, never a traceback)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlparse

from palxfel_globus.errors import PalxfelError
from palxfel_globus.globus.auth import SERVICE_ID_ENV, SERVICE_SECRET_ENV

SERVICES = {
    "flows": "Flows",
    "timer": "Timers",
    "compute": "Compute",
    "transfer": "Transfer",
    "auth": "Auth",
    "search": "Search",
}


def _service_name(url: str) -> str:
    """The service a request went to, by globus-sdk's URL for each (which GLOBUS_SDK_SERVICE_URL_* may
    point elsewhere, e.g. at 'local serve'); else the host."""
    from globus_sdk.config import get_service_url

    for service, name in SERVICES.items():
        if url.startswith(get_service_url(service)):
            return name
    return urlparse(url).netloc or "API"


def describe(error: Exception) -> str:
    """The sentence for a globus_sdk error."""
    from globus_sdk import GlobusAPIError, GlobusConnectionError
    from globus_sdk.login_flows import CommandLineLoginFlowEOFError
    from globus_sdk.token_storage.validating_token_storage import (
        ExpiredTokenError,
        MissingTokenError,
        TokenValidationError,
        UnmetScopeRequirementsError,
    )

    if isinstance(error, GlobusConnectionError):
        return "Cannot reach Globus; check this machine's network and try again."
    if isinstance(error, CommandLineLoginFlowEOFError):
        return (
            "No authorization code was typed: log in at a terminal, or on a host with nobody at it set "
            f"${SERVICE_ID_ENV} and ${SERVICE_SECRET_ENV} to a service identity."
        )
    if isinstance(error, MissingTokenError):
        return "You are not logged in to Globus here; run 'palxfel-globus login'."
    if isinstance(error, ExpiredTokenError):
        return "Your Globus login has expired; run 'palxfel-globus login'."
    if isinstance(error, UnmetScopeRequirementsError):
        return (
            "Your Globus login lacks a consent this needs (the flow's, the timer's or a collection's data access); "
            "run 'palxfel-globus login' and accept what it asks."
        )
    if isinstance(error, TokenValidationError):
        return f"Your stored Globus login cannot be used ({error}); run 'palxfel-globus login'."
    if not isinstance(error, GlobusAPIError):
        return f"Globus request failed: {error}."
    where = f"the Globus {_service_name(error._underlying_response.url or '')} service"
    body = error.raw_json if isinstance(error.raw_json, dict) else {}
    if error.http_status == 401 or body.get("error") == "invalid_grant":  # invalid_grant: a refused refresh token
        return "Your Globus login has expired or was revoked; run 'palxfel-globus login'."
    if error.http_status == 403 and (error.code == "ConsentRequired" or error.info.consent_required):
        return f"{where} needs your consent for this; run 'palxfel-globus login' again and accept what it asks."
    if error.http_status == 403:
        return f"{where} refused this ({error.code}): your identity lacks the permission; ask the owner to grant it."
    if error.http_status == 404:
        return f"{where} no longer has what the deployment file points to; run 'palxfel-globus deploy' to recreate it."
    if error.http_status == 429:
        return f"{where} is limiting requests; wait a minute and try again."
    if error.http_status >= 500:
        return f"{where} failed ({error.http_status}); try again later, or check status.globus.org."
    code = error.code or body.get("error") or "no error code"
    detail = error.message or body.get("error_description") or "no details given"
    return f"{where} rejected the request ({error.http_status} {code}): {detail}"


@contextlib.contextmanager
def globus_errors() -> Iterator[None]:
    """Turn globus_sdk errors raised inside into PalxfelError sentences."""
    from globus_sdk import GlobusError

    try:
        yield
    except GlobusError as error:
        raise PalxfelError(describe(error), exit_code=1) from None
