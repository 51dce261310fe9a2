"""Ask the Flows service itself whether it accepts a definition (``POST /flows/validate``).

The local checks follow the documentation; the service is the authority. Asking it before a
deploy shows what it would refuse while nothing has been made yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Verdict:
    flow: str
    accepted: bool
    answer: str


def validate_remotely(flows: Any, documents: dict[str, dict[str, Any]]) -> list[Verdict]:
    """One verdict per flow document ({definition, input_schema}); an answer other than accepted or
    refused (login, network, outage) is raised as the SDK's error for globus_errors() to word."""
    from globus_sdk import MISSING, GlobusAPIError

    verdicts = []
    for name, document in documents.items():
        try:
            response = flows.validate_flow(document["definition"], document.get("input_schema", MISSING))
        except GlobusAPIError as error:
            if error.http_status not in (400, 422):
                raise
            verdicts.append(Verdict(name, False, refusal(error)))
            continue
        scopes = sorted({scope for listed in (response.get("scopes") or {}).values() for scope in listed})
        needs = f"; its runs need {', '.join(scopes)}" if scopes else ""
        verdicts.append(Verdict(name, True, f"accepted{needs}"))
    return verdicts


def refusal(error: Any) -> str:
    """The service's reasons, each as 'where: why'."""
    body = error.raw_json if isinstance(error.raw_json, dict) else {}
    detail: Optional[Any] = (body.get("error") or {}).get("detail") if isinstance(body.get("error"), dict) else None
    if isinstance(detail, list) and detail:
        reasons = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(part) for part in item.get("loc") or [])
                reasons.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
        if reasons:
            return "; ".join(reasons)
    return str(error.message or body.get("error_description") or f"refused ({error.http_status})")
