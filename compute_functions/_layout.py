"""The PAL-XFEL DAQ layout: names, completion markers, confinement, routing, path mapping.

Standard library only, valid on Python 3.9, imports inside the functions: this text is
registered with Globus Compute (bundled into each entry function's source by
``palxfel_globus.functions``) and runs in the DAQ endpoint's own interpreter.

The ``config`` dict every entry function takes is built by ``palxfel_globus.config``:
``daq_root``, ``ledger``, ``collection``, ``collection_root``, ``markers``,
``quiet_seconds``, ``routes`` ([{match, destinations: [{collection, base_path, compute_endpoint,
verify_root}]}]; a route may also hold one destination's keys itself), ``max_scans``, ``max_bytes``,
``lease_seconds``, ``max_attempts``, ``backoff_seconds``, and optionally ``shares``, ``catalog``,
``retention`` ({release_after, max_release}).
"""

EXPERIMENT_PATTERN = r"(?P<kind>[a-z]+)_(?P<yymmdd>\d{6})_(?P<tag>.+)"
SCAN_PATTERN = r"(?P<yymmdd>\d{6})_(?P<name>.+)_(?P<number>\d{5})_DIR"
RAW_DATA = "rawData"
MAX_PROBLEMS = 50


class DaqError(Exception):
    """A refusal the operator can act on; its text is one sentence shown as is."""


class ScanError(DaqError):
    """One scan cannot ship as it is (a link, an unreadable entry, a name Globus cannot carry); others go on.

    The flow records such a scan as ``blocked`` with this sentence as its reason, and looks again
    every tick: once the cause is gone the scan ships like any other. A ``transient`` one (the scan
    changed while it was read) is instead an ordinary failed attempt of that scan."""

    def __init__(self, message, transient=False):
        super().__init__(message)
        self.transient = transient


MAX_SCAN_NAME_BYTES = 240  # the ledger and the manifest shipped beside a scan add up to 15 bytes to its name


# The flow's Transfer actions wait this long (their WaitTime), and every Transfer task of a run gets
# the deadline find time + this: no task outlives the action waiting for it, and Transfer's default
# deadline (24 h after submission) never cuts a long transfer short. tests/test_flow_shapes.py ties the two.
TRANSFER_WAIT_SECONDS = 7 * 86400


def shown(name):
    """A name as a person can read it: bytes that are not UTF-8 appear as escapes, never as errors."""
    import os

    return os.fsencode(name).decode("utf-8", "backslashreplace")


def name_problem(name, max_bytes=None):
    """Why Globus cannot carry this directory entry's name, or None.

    Transfer, Flows and Compute address files by UTF-8 text inside JSON, so a name that is not valid
    UTF-8 cannot even be written in a request. A scan's own name is also held to MAX_SCAN_NAME_BYTES:
    the ledger's files and the manifest shipped beside the scan add a suffix to it, within the 255
    bytes a file system allows."""
    import os

    raw = os.fsencode(name)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"the name {shown(name)!r} is not valid UTF-8, so Globus cannot address it; rename it"
    if max_bytes is not None and len(raw) > max_bytes:
        return f"the name {shown(name)[:40]!r}... is {len(raw)} bytes, over the {max_bytes} a scan's name may have"
    return None


def _date_from_yymmdd(yymmdd):
    import datetime

    try:
        return datetime.date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        return None


def _valid_component(name):
    return bool(name) and name not in (".", "..") and "/" not in name and "\x00" not in name


def _parse_name(pattern, name):
    """The named groups of a plain directory name with a real YYMMDD date, or None."""
    import re

    match = re.fullmatch(pattern, name, re.DOTALL)
    if not match or not _valid_component(name):
        return None
    fields = match.groupdict()
    date = _date_from_yymmdd(fields.pop("yymmdd"))
    if date is None:
        return None
    fields["date"] = date.isoformat()
    return fields


def parse_experiment_name(name):
    """``ue_251023_FXL`` -> {experiment, kind, date, tag}; None for anything else."""
    fields = _parse_name(EXPERIMENT_PATTERN, name)
    return fields and dict(fields, experiment=name)


def parse_scan_name(name):
    """``251023_alignment_00001_DIR`` -> {scan, date, name, number}; None for anything else."""
    fields = _parse_name(SCAN_PATTERN, name)
    return fields and dict(fields, scan=name, number=int(fields["number"]))


def scan_sort_key(name):
    parsed = parse_scan_name(name)
    return (parsed["date"], parsed["number"], name) if parsed else ("", 0, name)


def add_problem(problems, message):
    """Keep the list bounded: it travels in the flow's run state (200 KB cap)."""
    message = shown(message)
    if len(problems) < MAX_PROBLEMS:
        problems.append(message)
    elif len(problems) == MAX_PROBLEMS:
        problems.append("further problems were left out; run 'palxfel-globus scans list' on the DAQ host")


def tick_notes(blocked, problems):
    """What a run's summary adds about scans it could not take: "; 1 blocked: EXP/SCAN: reason; 2 warnings:
    first warning" (the first of each; 'palxfel-globus scans list' shows them all), or ""."""
    notes = ""
    if blocked:
        notes += "; {} blocked: {}: {}".format(len(blocked), blocked[0]["scan"], blocked[0]["reason"].rstrip("."))
    if problems:
        notes += "; {} warning{}: {}".format(len(problems), "" if len(problems) == 1 else "s", problems[0].rstrip("."))
    return notes


def real_root(path):
    """The DAQ root as an absolute real path; refuses a relative or missing one."""
    import os

    if not os.path.isabs(path):
        raise DaqError(f"The DAQ root {path!r} is not an absolute path.")
    if not os.path.isdir(path):
        raise DaqError(f"The DAQ root {path} does not exist or is not a directory.")
    return os.path.realpath(path)


def is_within(root_real, path):
    import os

    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def confined(root_real, *parts):
    """Join name parts under the root; refuses ``..``, separators and links leaving it."""
    import os

    for part in parts:
        if not _valid_component(part):
            raise DaqError(f"Refusing the path component {part!r}: it is not a plain name.")
    path = os.path.join(root_real, *parts)
    if not is_within(root_real, path):
        raise DaqError(f"Refusing {path}: it leads outside the root {root_real}.")
    return path


def list_dir(path, problems):
    """Entries of a directory, sorted; an unreadable one is reported and yields nothing."""
    import os

    try:
        with os.scandir(path) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except FileNotFoundError:
        return []
    except OSError as exc:
        add_problem(problems, f"Cannot read {path} ({exc.strerror or exc}); its scans are skipped.")
        return []


def list_experiments(root_real, problems):
    """Experiment directories of the root; links and unrecognised names are reported."""
    experiments = []
    for entry in list_dir(root_real, problems):
        if entry.name.startswith("."):
            continue
        parsed = parse_experiment_name(entry.name)
        problem = name_problem(entry.name)
        if problem:
            add_problem(problems, f"The experiment {entry.path}: {problem}; it is skipped.")
        elif entry.is_symlink():
            add_problem(problems, f"{entry.path} is a symbolic link; links are never followed.")
        elif not entry.is_dir(follow_symlinks=False):
            continue
        elif parsed is None:
            add_problem(
                problems,
                f"{entry.path} is not named <kind>_<YYMMDD>_<tag>; it is not an experiment and is skipped.",
            )
        else:
            experiments.append(parsed)
    experiments.sort(key=lambda exp: (exp["date"], exp["experiment"]))
    return experiments


def list_scans_of(root_real, experiment, problems):
    """(scan names, names of every entry) in ``<experiment>/rawData``, oldest scan first."""
    raw = confined(root_real, experiment, RAW_DATA)
    names = set()
    scans = []
    for entry in list_dir(raw, problems):
        names.add(entry.name)
        if entry.name.startswith(".") or parse_scan_name(entry.name) is None:
            continue
        problem = name_problem(entry.name, MAX_SCAN_NAME_BYTES)
        if problem:
            add_problem(problems, f"The scan {entry.path}: {problem}; it is skipped.")
        elif entry.is_symlink():
            add_problem(problems, f"{entry.path} is a symbolic link; links are never followed.")
        elif entry.is_dir(follow_symlinks=False):
            scans.append(entry.name)
    scans.sort(key=scan_sort_key)
    return scans, names


def has_marker(root_real, experiment, scan, raw_names, markers):
    """A marker inside the scan, or a sibling ``<scan><marker>`` among the rawData names."""
    import os

    for marker in markers:
        if scan + marker in raw_names:
            return True
        if os.path.lexists(os.path.join(root_real, experiment, RAW_DATA, scan, marker)):
            return True
    return False


def tree_files(root_real, top):
    """Every regular file under ``top`` as (relative path, absolute path, size, mtime), sorted.

    Anything Globus Transfer would not carry as it is makes the whole tree a ScanError, so
    nothing is shipped or verified half-read: a symbolic link (Transfer follows a link given as
    the item itself but no link inside a directory, and creates none at the destination: the
    copy would silently lack it), a name that is not UTF-8 or too long, an unreadable file or
    directory, a special file.
    """
    import os
    import stat

    files = []
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        directory = os.path.join(top, rel_dir) if rel_dir else top
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda entry: entry.name)
        except OSError as exc:
            raise ScanError(f"cannot read {shown(directory)} ({exc.strerror or exc})") from None
        for entry in entries:
            rel = rel_dir + "/" + entry.name if rel_dir else entry.name
            problem = name_problem(entry.name)
            if problem:
                raise ScanError(f"{shown(rel)}: {problem}")
            if entry.is_symlink():
                target = "leaves the DAQ root" if not is_within(root_real, entry.path) else "is a symbolic link"
                raise ScanError(
                    f"{shown(rel)} {target}; Globus Transfer does not follow links inside a directory, "
                    "so replace it with the file itself or remove it"
                )
            try:
                info = os.stat(entry.path, follow_symlinks=False)
            except OSError as exc:
                raise ScanError(f"cannot read {shown(rel)} ({exc.strerror or exc})") from None
            if stat.S_ISDIR(info.st_mode):
                pending.append(rel)
            elif not stat.S_ISREG(info.st_mode):
                raise ScanError(f"{shown(rel)} is not a regular file or directory")
            elif not os.access(entry.path, os.R_OK):
                raise ScanError(f"cannot read {shown(rel)} (Permission denied); fix its permissions")
            else:
                files.append((rel, entry.path, info.st_size, info.st_mtime))
    files.sort()
    return files


def scan_files(root_real, experiment, scan):
    return tree_files(root_real, confined(root_real, experiment, RAW_DATA, scan))


def scan_is_quiet(root_real, experiment, scan, files, now, quiet_seconds):
    """Quiet-period completion: nothing in the scan (nor the scan directory) changed lately."""
    import os

    scan_mtime = os.stat(confined(root_real, experiment, RAW_DATA, scan)).st_mtime
    newest = max([mtime for _, _, _, mtime in files] + [scan_mtime])
    return now - newest >= quiet_seconds


def route_for(experiment, routes):
    """The first route whose glob matches the experiment name, or None."""
    import fnmatch

    for route in routes:
        if fnmatch.fnmatchcase(experiment, route["match"]):
            return route
    return None


def share_principals(experiment, shares):
    """{principal URN: permissions} the ``[[share]]`` entries give on an experiment (a later entry wins)."""
    import fnmatch

    wanted = {}
    for share in shares:
        if fnmatch.fnmatchcase(experiment, share["match"]):
            for urn in share["principals"]:
                wanted[urn] = share["permissions"]
    return wanted


def shares_fingerprint(config):
    """What the access rules depend on in the config ([[share]] and the routes' destinations): when it
    changes, every experiment's rules are planned again. None without a [[share]]."""
    import hashlib
    import json

    if not config.get("shares"):
        return None
    routes = [
        [route["match"], primary_destination(route)["collection"], primary_destination(route)["base_path"]]
        for route in config["routes"]
    ]
    document = json.dumps({"shares": config["shares"], "routes": routes}, sort_keys=True)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def ledger_inside_root(root_real, ledger):
    """Whether the ledger is inside the DAQ collection, so each scan's manifest ships beside it."""
    import os

    return os.path.realpath(ledger).startswith(root_real.rstrip(os.sep) + os.sep)


def join_collection_path(base, *names):
    """``/~/dat`` + names -> ``/~/dat/a/b``; a collection path always uses ``/``."""
    path = base.rstrip("/")
    for name in names:
        path += "/" + name
    return path if path else "/"


def to_collection_path(daq_root, collection_root, fs_path):
    """The same directory as the DAQ collection sees it (``/xfel/ffs/dat/x`` -> ``/~/dat/x``)."""
    import os

    root = os.path.normpath(daq_root)
    path = os.path.normpath(fs_path)
    if path == root:
        return join_collection_path(collection_root)
    if not path.startswith(root.rstrip(os.sep) + os.sep):
        raise DaqError(f"{fs_path} is not under the DAQ root {daq_root}.")
    return join_collection_path(collection_root, *path[len(root.rstrip(os.sep)) + 1 :].split(os.sep))


def from_collection_path(daq_root, collection_root, collection_path):
    """The inverse of ``to_collection_path``; refuses paths outside the collection root."""
    import os

    base = collection_root.rstrip("/")
    if collection_path.rstrip("/") == base:
        return os.path.normpath(daq_root)
    if not collection_path.startswith(base + "/"):
        raise DaqError(f"{collection_path} is not under the collection root {collection_root}.")
    parts = [part for part in collection_path[len(base) + 1 :].split("/") if part]
    for part in parts:
        if not _valid_component(part):
            raise DaqError(f"Refusing the collection path {collection_path}: {part!r} is not a plain name.")
    return os.path.join(os.path.normpath(daq_root), *parts)


def destinations_of(route):
    """A route's destinations, in order; a route written with one destination's keys is that one."""
    if route.get("destinations"):
        return route["destinations"]
    return [{key: route.get(key) for key in ("collection", "base_path", "compute_endpoint", "verify_root")}]


def primary_destination(route):
    """The destination that shares and the catalog name: the route's first."""
    return destinations_of(route)[0]


def destination_path(destination, experiment, scan):
    """Where a scan lands: ``<base_path>/<experiment>/rawData/<scan>/``."""
    return join_collection_path(destination["base_path"], experiment, RAW_DATA, scan) + "/"


def transfer_label(count, first, last):
    """A Transfer task label naming the scans: at most 128 characters of what Transfer accepts."""
    import re

    def ascii_name(name):
        return re.sub(r"[^A-Za-z0-9_.,-]+", "-", name).strip("-") or "scan"

    label = f"palxfel-globus {count} scan{'' if count == 1 else 's'} {ascii_name(first)}"
    if count > 1:
        label += " to " + ascii_name(last)
    return label[:128]


def split_scan_id(scan_id):
    """``EXPERIMENT/SCAN`` or ``SCAN`` -> (experiment or None, scan); refuses anything else."""
    parts = scan_id.strip("/").split("/")
    if len(parts) > 2 or parse_scan_name(parts[-1]) is None:
        raise DaqError(f"{scan_id!r} is not a scan name: give <YYMMDD>_<name>_<NNNNN>_DIR or EXPERIMENT/SCAN.")
    if len(parts) == 2:
        return checked_scan(*parts)
    return None, parts[0]


def checked_scan(experiment, scan):
    """Refuse anything but a well-formed experiment and scan name before touching a path."""
    if not isinstance(experiment, str) or parse_experiment_name(experiment) is None:
        raise DaqError(f"{experiment!r} is not an experiment name of the form <kind>_<YYMMDD>_<tag>.")
    if not isinstance(scan, str) or parse_scan_name(scan) is None:
        raise DaqError(f"{scan!r} is not a scan name of the form <YYMMDD>_<name>_<NNNNN>_DIR.")
    return experiment, scan
