"""What the report and the recovery point say, in English and in Korean: one table, so both stay in step."""

from __future__ import annotations

from typing import Any, Optional

LANGUAGES = ("en", "ko")

TEXTS: dict[str, tuple[str, str]] = {
    "title": ("Scan backup at a glance", "스캔 백업 한눈에 보기"),
    "generated": (
        "Made {when} on {host} from the ledger of {root}.",
        "{when}에 {host}에서 {root}의 원장으로 만들었습니다.",
    ),
    "window": ("Charts cover the last {days} days.", "차트는 최근 {days}일을 보여 줍니다."),
    "recovery": ("Recovery point", "복구 시점"),
    "recovery_lead": (
        "How far behind the backup is: the oldest complete scan still without a verified copy at every destination, "
        "and how long a complete scan waited for its verified copies.",
        "백업이 얼마나 밀려 있는지: 모든 목적지에 검증된 사본이 아직 없는 가장 오래된 완료 스캔, 그리고 완료된 스캔이 "
        "검증된 사본을 얻기까지 기다린 시간입니다.",
    ),
    "oldest": ("Oldest waiting: {scan}, complete {age} ago.", "가장 오래 기다리는 스캔: {scan}, {age} 전에 완료."),
    "oldest_unknown": (
        "{count} complete scans wait; when they were complete is not known.",
        "완료된 스캔 {count}개가 기다리고 있습니다. 완료 시각은 알 수 없습니다.",
    ),
    "nothing_waiting": (
        "Nothing complete is waiting for its verified copies.",
        "검증된 사본을 기다리는 완료 스캔이 없습니다.",
    ),
    "route_waits": (
        "{route}: {waiting} waiting; {count} verified in the last {days} days, complete to verified: "
        "median {median}, 95th percentile {p95}, worst {worst}.",
        "{route}: {waiting}개 대기 중. 최근 {days}일 동안 {count}개 검증, 완료부터 검증까지 중앙값 {median}, "
        "95백분위 {p95}, 최장 {worst}.",
    ),
    "route_none": (
        "{route}: {waiting} waiting; none verified in the last {days} days.",
        "{route}: {waiting}개 대기 중. 최근 {days}일 동안 검증된 스캔이 없습니다.",
    ),
    "unrouted": ("{count} complete scans match no route.", "완료된 스캔 {count}개가 어느 route에도 맞지 않습니다."),
    "experiments": ("Experiments", "실험별"),
    "experiments_lead": (
        "Experiments with scans not yet shipped, or with scans complete or shipped in the window; newest first.",
        "아직 보내지 않은 스캔이 있거나 기간 안에 완료·전송된 스캔이 있는 실험입니다. 최근 실험이 먼저입니다.",
    ),
    "experiments_hidden": (
        "{count} more experiments, every scan shipped or released before the window.",
        "그 밖의 실험 {count}개는 기간 전에 모든 스캔을 보냈거나 DAQ에서 해제했습니다.",
    ),
    "experiments_cut": ("… and {count} more experiments.", "… 그리고 실험 {count}개가 더 있습니다."),
    "destinations": ("Destinations", "목적지별"),
    "destinations_none": (
        "No route is configured, so there are no destinations to show.",
        "설정된 route가 없어 보여 줄 목적지가 없습니다.",
    ),
    "experiment": ("Experiment", "실험"),
    "destination": ("Destination", "목적지"),
    "route": ("Route", "route"),
    "complete": ("Complete", "완료"),
    "waiting": ("Waiting", "대기"),
    "shipped": ("Shipped", "전송 완료"),
    "released": ("Released", "DAQ에서 해제"),
    "blocked": ("Blocked", "막힘"),
    "quarantined": ("Quarantined", "격리"),
    "failed": ("Failed", "실패"),
    "releasing": ("Releasing", "해제 중"),
    "verified_copies": ("Verified copies", "검증된 사본"),
    "verified_bytes": ("Bytes verified", "검증된 용량"),
    "in_window": ("Verified in the window", "기간 안 검증"),
    "total": ("Total", "합계"),
    "backlog": ("Backlog over time", "시간에 따른 대기 스캔"),
    "backlog_lead": (
        "Complete scans without verified copies at every destination, by route.",
        "모든 목적지에 검증된 사본이 아직 없는 완료 스캔 수를 route별로 보여 줍니다.",
    ),
    "bytes_per_day": ("Bytes verified per day", "하루에 검증된 용량"),
    "bytes_per_day_lead": (
        "By destination, on the day each copy was first verified.",
        "목적지별, 사본이 처음 검증된 날 기준.",
    ),
    "wait_distribution": ("Wait from complete to verified", "완료부터 검증까지 걸린 시간"),
    "wait_lead": (
        "Scans verified at every destination in the window, by how long they waited.",
        "기간 안에 모든 목적지에서 검증된 스캔을 기다린 시간별로 셉니다.",
    ),
    "failures": ("Failures by reason", "원인별 실패"),
    "failures_lead": (
        "Scans failed, quarantined or blocked now, by their reason (names and ids left out).",
        "지금 실패·격리·막힘 상태인 스캔을 원인별로 셉니다(이름과 ID는 뺐습니다).",
    ),
    "states": ("Scans by state and destination", "목적지별 스캔 상태"),
    "states_lead": (
        "Every scan of each destination's route, by state.",
        "각 목적지 route의 모든 스캔을 상태별로 셉니다.",
    ),
    "need_a_person": ("Scans that need a person", "사람이 봐야 할 스캔"),
    "need_a_person_none": ("No scan needs a person.", "사람이 봐야 할 스캔이 없습니다."),
    "need_a_person_cut": (
        "… and {count} more: palxfel-globus scans list",
        "… 그리고 {count}개 더: palxfel-globus scans list",
    ),
    "scan": ("Scan", "스캔"),
    "state": ("State", "상태"),
    "reason": ("Reason", "이유"),
    "count": ("Scans", "스캔 수"),
    "no_data": ("Nothing in the window.", "기간 안에 자료가 없습니다."),
    "others": ("other reasons", "그 밖의 원인"),
    "chart_of": ("Chart: {title}", "차트: {title}"),
}

# A duration's units from the largest, as each language writes them.
UNITS = {
    "en": (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)),
    "ko": (("일", 86400), ("시간", 3600), ("분", 60), ("초", 1)),
}


def text(key: str, language: str = "en", **values: object) -> str:
    english, korean = TEXTS[key]
    chosen = korean if language == "ko" else english
    return chosen.format(**values) if values else chosen


def duration(seconds: Optional[float], language: str = "en") -> str:
    """``2 h 13 min`` / ``2시간 13분``: the largest unit and the next one, rounded down; ``-`` when unknown."""
    if seconds is None:
        return "-"
    units = UNITS[language]
    whole = max(0, int(seconds))
    first = next(index for index, (_unit, size) in enumerate(units) if whole >= size or size == 1)
    parts = []
    for unit, size in units[first : first + 2]:
        amount = whole // size
        whole -= amount * size
        if amount or not parts:
            parts.append(f"{amount}{'' if language == 'ko' else ' '}{unit}")
    return " ".join(parts)


def recovery_sentences(recovery: dict[str, Any], language: str = "en") -> list[str]:
    """The recovery point (list_scans' ``recovery``) in sentences: the oldest waiting scan, then each route."""
    days = recovery["days"]
    routes = recovery["routes"]
    waiting = sum(route["waiting"] for route in routes) + recovery["unrouted"]
    oldest = recovery["oldest"]
    if oldest is not None:
        lines = [text("oldest", language, scan=oldest["scan"], age=duration(oldest["age_seconds"], language))]
    elif waiting:
        lines = [text("oldest_unknown", language, count=waiting)]
    else:
        lines = [text("nothing_waiting", language)]
    for route in routes:
        values = {"route": route["route"], "waiting": route["waiting"], "days": days, "count": route["count"]}
        if not route["count"]:
            lines.append(text("route_none", language, **values))
            continue
        figures = {key: duration(route[f"{key}_seconds"], language) for key in ("median", "p95", "worst")}
        lines.append(text("route_waits", language, **values, **figures))
    if recovery["unrouted"]:
        lines.append(text("unrouted", language, count=recovery["unrouted"]))
    return lines
