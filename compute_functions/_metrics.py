"""The figures a facility graphs, in Prometheus' text format, with no daemon on the DAQ host.

At the end of every run (RecordOutcome; or FindCompletedScans, when a run finds nothing to do and ends before
RecordOutcome) the ledger directory gets ``palxfel_globus.prom`` in the text format that node_exporter's
textfile collector reads (``--collector.textfile.directory`` set to the ledger directory). It is replaced by a
rename, so a reader never sees half a file:

    counters, from the first run that wrote the file on (each run counted once, by its id):
        palxfel_globus_shipped_scans_total, palxfel_globus_shipped_bytes_total      {route, destination}
        palxfel_globus_released_scans_total, palxfel_globus_released_bytes_total    {route}
        palxfel_globus_failed_attempts_total                                        {route}
        palxfel_globus_complete_to_verified_seconds (a histogram of each shipped scan's wait)   {route}
    gauges, as the ledger and the DAQ tree stand at the end of the run:
        palxfel_globus_backlog_scans, palxfel_globus_backlog_bytes                  {route, destination}
            complete scans without a verified copy there (see _recovery)
        palxfel_globus_oldest_waiting_scan_age_seconds                              {route, destination}
        palxfel_globus_blocked_scans, palxfel_globus_quarantined_scans              {route}
        palxfel_globus_unrouted_scans, palxfel_globus_last_run_timestamp_seconds,
        palxfel_globus_last_success_timestamp_seconds

``metrics.json`` keeps the counters, the runs' times and the size of each waiting scan (measured once: a complete
scan does not change); ``metrics.lock`` is held while it is read and replaced, so two overlapping runs both count.
The gauges look only at the experiments a tick looks at that are not known to be all shipped (the ledger's
finished-experiments cache, see _experiments): such an experiment has nothing waiting. A figure that cannot be
written is a warning of the run, never its failure. Standard library only, valid on Python 3.9 (see _layout).
"""

from _experiments import TickPlan
from _layout import (
    RAW_DATA,
    DaqError,
    add_problem,
    confined,
    destination_path,
    destinations_of,
    has_marker,
    list_scans_of,
    real_root,
    route_for,
)
from _ledger import atomic_write, encode_json, read_generation, read_json, read_record, shipped_names
from _recovery import completion_time, is_waiting, seconds_of, wait_seconds
from _release import read_released

PROM_FILE = "palxfel_globus.prom"
STATE_FILE = "metrics.json"
LOCK_FILE = "metrics.lock"
WAIT_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800)  # seconds
COUNTED_RUNS = 200  # run ids remembered, so a RecordOutcome that runs twice counts once
NO_ROUTE = "none"  # the route label of a scan no [[route]] matches (any more)


def destination_label(destination):
    """``<collection>:<base_path>``: a collection may hold several destinations."""
    return "{}:{}".format(destination["collection"], destination["base_path"].rstrip("/") or "/")


def _route_label(route):
    return route["match"] if route else NO_ROUTE


def verified_labels(route, record, experiment, scan, legacy_verified):
    """The labels of the route's destinations the record shows a verified copy at. A record that lists no
    destinations (a scan shipped before the ledger kept them) is verified at each when ``legacy_verified``."""
    places = record.get("destinations") or []
    verified = {(place.get("collection"), place.get("path")) for place in places if place.get("state") == "verified"}
    labels = []
    for destination in destinations_of(route) if route else ():
        place = (destination["collection"], destination_path(destination, experiment, scan))
        if place in verified or (not places and legacy_verified):
            labels.append(destination_label(destination))
    return labels


def note_run(config, run_id, result, now, found=None):
    """After RecordOutcome: count the run's shipped, released and failed scans (once per run id) and write the
    figures. ``result`` is record_outcome's (None for a run whose discovery failed: only its time is kept); a
    warning is added to it when the figures could not be written."""

    def count(state):
        if result is None or run_id in state["counted_runs"]:
            return
        state["counted_runs"] = (state["counted_runs"] + [run_id])[-COUNTED_RUNS:]
        _count(config, state, result)
        for item in (found or {}).get("scans") or []:  # sized when claimed: no walk for those still waiting
            state["sizes"][f"{item.get('experiment')}/{item.get('scan')}"] = item.get("bytes")

    problem = _update(config, now, count, success=bool(result and result.get("ok")))
    if problem and result is not None:
        result["warnings"].append(problem)


def note_quiet_run(config, now, problems):
    """A run that found nothing to do ends before RecordOutcome: the gauges move on here, and it succeeded."""
    problem = _update(config, now, None, success=True)
    if problem:
        add_problem(problems, problem)


def _update(config, now, change, success):
    """Read metrics.json under its lock, let ``change`` count into it, and write it and the figures; a sentence
    when they could not be written, else None."""
    import os

    ledger = config["ledger"]
    if not os.path.isdir(ledger):  # nothing was ever recorded (a run whose every scan was refused): no figures
        return None
    try:
        fd = _lock(ledger)
        try:
            state = _read_state(ledger)
            counted = list(state["counted_runs"])
            if change is not None:
                change(state)
            state["last_run"] = now
            if success:
                state["last_success"] = now
            gauges = _gauges(config, now, state)
            # the counters must survive a crash; the rest (times, sizes) is cheap to lose, so a quiet tick syncs nothing
            atomic_write(os.path.join(ledger, STATE_FILE), encode_json(state), durable=counted != state["counted_runs"])
            atomic_write(
                os.path.join(ledger, PROM_FILE), render(config, state, gauges, now).encode("utf-8"), durable=False
            )
        finally:
            os.close(fd)
    except (OSError, DaqError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        return f"the figures for Prometheus could not be written in {ledger} ({reason}); the backup goes on"
    return None


def _lock(ledger):
    """metrics.lock held (it is released when the returned descriptor is closed). Where the filesystem has no
    locks, overlapping runs may lose a count, never a scan."""
    import fcntl
    import os

    fd = os.open(os.path.join(ledger, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        pass
    return fd


def _read_state(ledger):
    import os

    state, _problem = read_json(os.path.join(ledger, STATE_FILE))  # unreadable: counting starts again (a reset)
    fresh = {"counted_runs": [], "shipped": {}, "released": {}, "failures": {}, "waits": {}, "sizes": {}}
    fresh.update(last_run=None, last_success=None, version=1)
    return dict(fresh, **(state or {}))


def _count(config, state, result):
    ledger, routes = config["ledger"], config["routes"]
    for scan_id in result.get("shipped") or []:
        experiment, _, scan = scan_id.partition("/")
        record, _problem = read_record(ledger, experiment, scan)
        if not record:
            continue
        route = route_for(experiment, routes)
        label = _route_label(route)
        for destination in verified_labels(route, record, experiment, scan, legacy_verified=True):
            entry = state["shipped"].setdefault(label, {}).setdefault(destination, [0, 0])
            entry[0] += 1
            entry[1] += int(record.get("bytes") or 0)
        wait = wait_seconds(record.get("completed_at"), record.get("shipped_at"))
        if wait is not None:
            histogram = state["waits"].setdefault(label, {"buckets": [0] * len(WAIT_BUCKETS), "sum": 0.0, "count": 0})
            for index, bound in enumerate(WAIT_BUCKETS):
                histogram["buckets"][index] += wait <= bound
            histogram["sum"] += wait
            histogram["count"] += 1
    for scan_id in result.get("released") or []:
        experiment, _, scan = scan_id.partition("/")
        record = read_released(ledger, experiment, scan)[0] or {}
        entry = state["released"].setdefault(_route_label(route_for(experiment, routes)), [0, 0])
        entry[0] += 1
        entry[1] += int(record.get("bytes") or 0)
    for item in (result.get("failed") or []) + (result.get("quarantined") or []):
        label = _route_label(route_for(str(item.get("scan")).partition("/")[0], routes))
        state["failures"][label] = state["failures"].get(label, 0) + 1


def _gauges(config, now, state):
    """{backlog: {(route, destination): [scans, bytes, oldest completed]}, blocked: {route: n}, quarantined,
    unrouted} as the ledger and the tree stand; ``state["sizes"]`` keeps the size of each waiting scan only."""
    root, ledger, routes = real_root(config["daq_root"]), config["ledger"], config["routes"]
    problems = []
    plan = TickPlan(ledger, root, read_generation(ledger), now, problems)
    figures = {"backlog": {}, "blocked": {}, "quarantined": {}, "unrouted": 0}
    sizes, kept = state["sizes"], {}
    for name in plan.names:
        if plan.known.get(name) is not None:  # every scan of it shipped at the stamp a tick saw
            continue
        try:
            scans, raw_names = list_scans_of(root, name, problems)
        except DaqError:
            continue
        shipped = shipped_names(ledger, name) if scans else set()
        route = route_for(name, routes)
        for scan in scans:
            if scan in shipped:
                continue
            record, problem = read_record(ledger, name, scan)
            if problem:
                continue
            if (record or {}).get("state") in ("blocked", "quarantined"):
                counts = figures[record["state"]]
                counts[_route_label(route)] = counts.get(_route_label(route), 0) + 1
            if record is None:
                marked = has_marker(root, name, scan, raw_names, config["markers"])
                completed = completion_time(config, root, name, scan) if marked or config.get("quiet_seconds") else None
                if not marked and (completed is None or completed > now):
                    continue  # still being written
            elif is_waiting(record.get("state"), record):
                completed = seconds_of(record.get("completed_at")) or completion_time(config, root, name, scan)
            else:
                continue
            if route is None:
                figures["unrouted"] += 1
                continue
            scan_id = f"{name}/{scan}"
            kept[scan_id] = sizes[scan_id] if scan_id in sizes else _size(root, name, scan)
            verified = verified_labels(route, record or {}, name, scan, legacy_verified=False)
            for destination in destinations_of(route):
                label = destination_label(destination)
                if label in verified:
                    continue
                entry = figures["backlog"].setdefault((route["match"], label), [0, 0, None])
                entry[0] += 1
                entry[1] += kept[scan_id] or 0
                if completed is not None and (entry[2] is None or completed < entry[2]):
                    entry[2] = completed
    state["sizes"] = kept
    return figures


def _size(root, experiment, scan):
    """The bytes of a scan's regular files (links not followed, unreadable parts left out: a scan that cannot ship
    as it is still has bytes waiting)."""
    import os
    import stat

    total = 0
    try:
        top = confined(root, experiment, RAW_DATA, scan)
    except DaqError:
        return 0
    for directory, _subdirectories, names in os.walk(top):
        for name in names:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    return str(int(value)) if isinstance(value, int) or float(value).is_integer() else repr(float(value))


class _Text:
    """The exposition: each family once, its HELP and TYPE first, then its samples."""

    def __init__(self):
        self.lines = []

    def family(self, name, kind, text, samples):
        """``samples``: (labels as (key, value) pairs, value[, the sample name's suffix, as "_bucket"])."""
        self.lines.append(f"# HELP {name} {text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value, *suffix in samples:
            sample = name + (suffix[0] if suffix else "")
            shown = ",".join(f'{key}="{_escape(item)}"' for key, item in labels)
            self.lines.append(f"{sample}{{{shown}}} {_number(value)}" if shown else f"{sample} {_number(value)}")

    def histogram(self, name, text, per_route):
        """A Prometheus histogram per route from its kept {buckets (cumulative), sum, count}."""
        samples = []
        for route, kept in per_route.items():
            kept = kept or {"buckets": [0] * len(WAIT_BUCKETS), "sum": 0.0, "count": 0}
            for bound, count in zip(WAIT_BUCKETS, kept["buckets"]):
                samples.append(((("route", route), ("le", repr(float(bound)))), count, "_bucket"))
            samples.append(((("route", route), ("le", "+Inf")), kept["count"], "_bucket"))
            samples.append(((("route", route),), kept["sum"], "_sum"))
            samples.append(((("route", route),), kept["count"], "_count"))
        self.family(name, "histogram", text, samples)

    def text(self):
        return "\n".join(self.lines) + "\n"


def render(config, state, figures, now):
    """The exposition text: every configured route and destination has each series, 0 where nothing happened."""
    places = [
        (route["match"], destination_label(place)) for route in config["routes"] for place in destinations_of(route)
    ]
    routes = [route["match"] for route in config["routes"]]
    shipped = {(route, place): kept for route, kept_at in state["shipped"].items() for place, kept in kept_at.items()}
    backlog, released = figures["backlog"], state["released"]
    removed = "DAQ copy was removed once every copy verified again."
    out = _Text()
    for name, kind, text, values in (
        ("shipped_scans_total", "counter", "Scans verified at the destination.", _column(shipped, 0)),
        ("shipped_bytes_total", "counter", "Bytes of the scans verified at the destination.", _column(shipped, 1)),
        ("backlog_scans", "gauge", "Complete scans without a verified copy at the destination.", _column(backlog, 0)),
        ("backlog_bytes", "gauge", "Bytes of the complete scans without a verified copy there.", _column(backlog, 1)),
        (
            "oldest_waiting_scan_age_seconds",
            "gauge",
            "Seconds since the oldest complete scan without a verified copy at the destination was complete (0: none).",
            {key: max(0.0, now - kept[2]) for key, kept in backlog.items() if kept[2] is not None},
        ),
    ):
        keys = sorted(set(places) | set(values))
        samples = [((("route", route), ("destination", place)), values.get((route, place), 0)) for route, place in keys]
        out.family(f"palxfel_globus_{name}", kind, text, samples)
    for name, kind, text, values in (
        ("released_scans_total", "counter", f"Scans whose {removed}", _column(released, 0)),
        ("released_bytes_total", "counter", f"Bytes of the scans whose {removed}", _column(released, 1)),
        (
            "failed_attempts_total",
            "counter",
            "Failed attempts to ship a scan (a quarantined one's last too).",
            state["failures"],
        ),
        ("blocked_scans", "gauge", "Scans blocked now.", figures["blocked"]),
        ("quarantined_scans", "gauge", "Scans quarantined now.", figures["quarantined"]),
    ):
        samples = [((("route", route),), values.get(route, 0)) for route in sorted(set(routes) | set(values))]
        out.family(f"palxfel_globus_{name}", kind, text, samples)
    out.histogram(
        "palxfel_globus_complete_to_verified_seconds",
        "How long a shipped scan waited from complete to verified at every destination.",
        {route: state["waits"].get(route) for route in sorted(set(routes) | set(state["waits"]))},
    )
    for name, text, value in (
        ("unrouted_scans", "Complete scans no route matches.", figures["unrouted"]),
        ("last_run_timestamp_seconds", "When the last run ended (Unix time).", state["last_run"] or 0),
        (
            "last_success_timestamp_seconds",
            "When the last run ended that recorded no problem or found nothing to do (Unix time; 0: none yet).",
            state["last_success"] or 0,
        ),
    ):
        out.family(f"palxfel_globus_{name}", "gauge", text, [((), value)])
    return out.text()


def _column(kept, index):
    """{key: the ``index``-th of each kept list}: a scan count or a byte count."""
    return {key: values[index] for key, values in kept.items()}
