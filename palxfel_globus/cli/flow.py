"""``palxfel-globus flow validate | simulate``: any Globus flow definition, offline."""

from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import (
    CONFIG_DEFAULT,
    ConfigOption,
    RealTimeOption,
    StateOption,
    command_group,
    engine_clock,
    faults_option,
    interval_option,
    parse_uuid,
    state_dir,
)
from palxfel_globus.cli.output import console, print_json, problem, say, warn
from palxfel_globus.errors import PalxfelError
from palxfel_globus.jsonfile import read_json_file

app = command_group("Check and run Globus flow definitions on the local engine.")

DefinitionArgument = Annotated[Path, typer.Argument(metavar="DEFINITION.json", help="A flow definition file.")]
STATUS_STYLES = {"SUCCEEDED": "green", "FAILED": "bold red", "INACTIVE": "yellow", "ENDED": "magenta"}


def _in_flow_order(definition: dict[str, Any]) -> list[str]:
    """State names as a run meets them (depth first from StartAt), the failure paths (reached only
    through a Catch) after, and any state nothing reaches last (validate reports those)."""
    from palxfel_globus.engine.definition import successors

    states, order = definition.get("States") or {}, []

    def walk(start: Any, catches: bool) -> None:
        stack = [start]
        while stack:
            name = stack.pop()
            if name in states and name not in order:
                order.append(name)
                stack += reversed(successors(states[name], catches))

    walk(definition.get("StartAt"), catches=False)
    for name in list(order):
        for catcher in states[name].get("Catch", []):
            walk(catcher.get("Next"), catches=True)
    return order + [name for name in states if name not in order]


def _does(state: dict[str, Any]) -> str:
    from urllib.parse import urlparse

    if state.get("Comment"):
        return str(state["Comment"])
    if state.get("Type") == "Action":
        url = urlparse(str(state.get("ActionUrl", "")))
        service = url.netloc.split(".")[0] if url.netloc.endswith(".actions.globus.org") else ""
        return f"a {service.capitalize()} action" if service else f"the action at {url.geturl()}"
    if state.get("Type") == "Fail":
        return f"fails the run: {state.get('Error', '')}"
    return ""


@app.command("show")
def show(
    definition: Annotated[
        Optional[Path],
        typer.Argument(metavar="DEFINITION.json", help="A flow definition file (default: the scan backup)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the definition itself.")] = False,
) -> None:
    """A flow's states in the order a run meets them: type, what each does, where it goes next."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from palxfel_globus.engine import load_definition
    from palxfel_globus.engine.definition import successors
    from palxfel_globus.resources import data_dir

    flow = load_definition(definition or data_dir("flow_definitions") / "scan_backup.json")
    if json_output:
        print_json(flow)
        return
    states = flow.get("States") or {}
    table = Table(box=box.SIMPLE_HEAD, title=Text(flow.get("Comment", "")), title_justify="left")
    for column in ("state", "type", "does", "then"):
        table.add_column(column, overflow="fold", no_wrap=column in ("state", "type"))
    for name in _in_flow_order(flow):
        state = states[name]
        then = ", ".join(successors(state)) or ("end" if state.get("Type") != "Fail" else "")
        table.add_row(Text(name), state.get("Type", "?"), Text(_does(state)), Text(then))
    console.print(table)


@app.command("validate")
def validate(
    definition: DefinitionArgument,
    remote: Annotated[
        bool, typer.Option("--remote", help="Also ask the Flows service (needs 'palxfel-globus login').")
    ] = False,
    schema: Annotated[
        Optional[Path], typer.Option("--schema", help="The flow's input schema (JSON), sent with --remote.")
    ] = None,
    config: Annotated[
        Optional[Path],
        typer.Option("--config", "-c", help=f"Config file for the Globus app, with --remote {CONFIG_DEFAULT}."),
    ] = None,
) -> None:
    """Report every problem in a definition, as the Flows service would refuse it (exit 1 if any); with
    --remote, the service itself checks it too."""
    from palxfel_globus.engine import load_definition
    from palxfel_globus.engine import validate as validate_definition

    flow = load_definition(definition)
    findings = validate_definition(flow)
    for finding in findings:
        (warn if finding.warning else problem)(f"{finding.state}: {finding.message}.")
    errors = [finding for finding in findings if not finding.warning]
    if remote and not _accepted_remotely(definition, flow, schema, config):
        raise typer.Exit(1)
    if errors:
        raise typer.Exit(1)
    say(f"{definition}: valid.")


def _accepted_remotely(name: Path, flow: dict[str, Any], schema: Optional[Path], config: Optional[Path]) -> bool:
    from palxfel_globus.cli.deploy import ask_the_flows_service
    from palxfel_globus.cli.session import ensure_login, load_globus_config, session

    document: dict[str, Any] = {"definition": flow}
    if schema is not None:
        document["input_schema"] = read_json_file(schema, "input schema file")
    current = session(load_globus_config(config))
    ensure_login(current, "Asking the Flows service needs your Globus login")
    return ask_the_flows_service(current, {str(name): document})


def _mapping(values: list[str], option: str, what: str) -> dict[str, str]:
    mapping = {}
    for value in values:
        text, separator, target = value.partition("=")
        key = parse_uuid(text)
        if not separator or not key or not target:
            raise PalxfelError(f"{option} {value!r} is not UUID={what}.")
        mapping[key] = target
    return mapping


def _directories(values: Optional[list[str]], option: str) -> dict[str, Path]:
    directories = {key: Path(value) for key, value in _mapping(values or [], option, "DIR").items()}
    for key, directory in directories.items():
        if not directory.is_dir():
            raise PalxfelError(f"{option} {key}={directory}: the directory does not exist.")
    return directories


def _web_inputs(values: list[str]) -> list[Any]:
    answers: list[Any] = []
    for value in values:
        if value.startswith("@"):
            loaded = read_json_file(Path(value[1:]), "web input file")
            answers.extend(loaded if isinstance(loaded, list) else [loaded])
        else:
            answers.append(value)
    return answers


def _functions(values: list[str]) -> dict[str, Any]:
    from palxfel_globus.engine import FunctionRef

    functions = {}
    for key, target in _mapping(values, "--function", "FILE.py:NAME").items():
        path, separator, name = target.rpartition(":")
        if not separator or not Path(path).is_file() or not name.isidentifier():
            raise PalxfelError(f"--function {key}={target}: expected an existing FILE.py and a function NAME.")
        functions[key] = FunctionRef(str(Path(path).absolute()), name)
    return functions


def _progress(entry: dict[str, Any], context: dict[str, Any]) -> None:
    code = entry["code"]
    if code.endswith("Completed"):
        console.print(f"  [green]✓[/] {entry['details']['state_name']}", highlight=False)
    elif code == "ActionErrorCaught":
        console.print(f"  [yellow]![/] {entry['description']}", highlight=False)


@app.command("simulate")
def simulate(
    definition: DefinitionArgument,
    input_file: Annotated[Optional[Path], typer.Option("--input", "-i", help="The run's input (JSON).")] = None,
    collection: Annotated[
        Optional[list[str]], typer.Option("--collection", help="UUID=DIR: a local directory as a collection.")
    ] = None,
    guest_collection: Annotated[
        Optional[list[str]],
        typer.Option("--guest-collection", help="UUID=DIR: a local directory as a guest collection (access rules)."),
    ] = None,
    function: Annotated[
        Optional[list[str]], typer.Option("--function", help="UUID=FILE.py:NAME: a Compute function.")
    ] = None,
    web_input: Annotated[
        Optional[list[str]], typer.Option("--web-input", help="An answer for AwaitWebInput, or @FILE.json.")
    ] = None,
    fault: Annotated[
        Optional[list[str]],
        typer.Option("--fault", help="fail:STATE[:N], crash:STATE or corrupt:STATE:GLOB[:truncate]."),
    ] = None,
    ticks: Annotated[int, typer.Option("--ticks", min=1, help="Run on a local timer this many times.")] = 1,
    interval: Annotated[str, typer.Option("--interval", help="Time between timer ticks, e.g. 30s.")] = "0s",
    max_states: Annotated[
        int,
        typer.Option("--max-states", min=1, max=10_000_000, help="End a run FAILED after this many states."),
    ] = 10_000,
    real_time: RealTimeOption = False,
    state: StateOption = None,
    resume: Annotated[
        Optional[str],
        typer.Option(
            "--resume", metavar="RUN_ID", help="Go on with an INACTIVE run; the first --web-input answers it."
        ),
    ] = None,
    cancel: Annotated[
        Optional[str], typer.Option("--cancel", metavar="RUN_ID", help="End an INACTIVE run (status ENDED).")
    ] = None,
    expire_web_inputs: Annotated[
        bool,
        typer.Option(
            "--expire-web-inputs",
            help="A web input with no answer expires at once (Flows.WebInputExpired) instead of leaving the run "
            "INACTIVE, to test the flow's expiry path.",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the run document(s) as JSON.")] = False,
) -> None:
    """Run a flow on the local engine; exit 0 if it SUCCEEDED, 1 if not (INACTIVE: waiting for a
    --web-input answer, resume it with --resume), 2 on bad input."""
    from palxfel_globus.engine import DefinitionError, Engine, load_definition
    from palxfel_globus.engine.definition import checked
    from palxfel_globus.engine.timer import TimerReport, run_timer

    flow = load_definition(definition)
    try:
        checked(flow)
    except DefinitionError as exc:
        raise PalxfelError(f"{definition} is not a valid flow definition: {exc.problems[0]}") from None
    body = read_json_file(input_file, "input file") if input_file is not None else {}
    if not isinstance(body, dict):
        raise PalxfelError(f"The input file {input_file} must hold a JSON object.")
    faults, seconds = faults_option(fault, flow), interval_option(interval)
    directories = _directories(collection, "--collection")
    guests = _directories(guest_collection, "--guest-collection")
    both = sorted(directories.keys() & guests.keys())
    if both:
        raise PalxfelError(f"{both[0]} is given as a --collection and a --guest-collection; a collection has one type.")
    if resume and cancel:
        raise PalxfelError("Give either --resume or --cancel, not both.")
    answers = _web_inputs(web_input or [])
    if resume and not answers:
        raise PalxfelError(f"--resume {resume} needs the answer: add --web-input ANSWER.")
    engine = Engine(
        collections={**directories, **guests},
        guest_collections=guests,
        state_dir=state_dir(state),
        functions=_functions(function or []),
        faults=faults,
        web_inputs=answers[1:] if resume else answers,
        on_event=None if json_output else _progress,
        max_states=max_states,
        clock=engine_clock(real_time),
        expire_web_inputs=expire_web_inputs,
    )
    with engine:
        if resume or cancel:
            run_id = str(resume or cancel)
            _check_inactive(engine, run_id, flow, definition)
            report = TimerReport(runs=[engine.resume(run_id, answers[0]) if resume else engine.cancel(run_id)])
        else:
            report = run_timer(engine, flow, lambda _tick: body, interval=seconds, ticks=ticks)
    for tick in report.skipped_ticks:
        warn(f"tick {tick} was skipped: the previous run was still going (as a Globus Timer does).")
    for tick in report.crashed_ticks:
        warn(f"tick {tick} stopped at an injected crash.")
    runs = report.runs
    if json_output:
        print_json(runs[0] if len(runs) == 1 and ticks == 1 else runs)
    else:
        for run in runs:
            _report(run, definition)
    if report.crashed_ticks or any(run["status"] != "SUCCEEDED" for run in runs):
        raise typer.Exit(1)


def _check_inactive(engine: Any, run_id: str, flow: dict[str, Any], definition: Path) -> None:
    try:
        kept = engine.inactive(run_id)
    except KeyError:
        raise PalxfelError(
            f"No INACTIVE run {run_id} is kept in {engine.state.directory}; it ended, or ran with another --state."
        ) from None
    if kept["definition"] != flow:
        raise PalxfelError(f"Run {run_id} was started from another definition than {definition}.")


def _report(run: dict[str, Any], definition: Path) -> None:
    style = STATUS_STYLES.get(run["status"], "")
    console.print(f"Run {run['run_id']}: [{style}]{run['status']}[/]", highlight=False)
    if run["status"] != "SUCCEEDED":
        say(f"  {run['details'].get('description', run['details'].get('code'))}")
    if run["status"] == "INACTIVE":
        say(
            f"  Answer it: palxfel-globus flow simulate {definition} --resume {run['run_id']} --web-input ANSWER "
            f"(with the same --collection, --function and --state), or end it with --cancel {run['run_id']}."
        )


@app.command("run")
def run_now(
    config: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the new run as JSON.")] = False,
) -> None:
    """Start one scan-backup run now, through Globus (the timer keeps its own schedule)."""
    from palxfel_globus.backup import flow_input
    from palxfel_globus.cli.runs import start_run
    from palxfel_globus.cli.session import deployed, session
    from palxfel_globus.globus.notify import send_credentials

    loaded, deployment, flow_id = deployed(config, "flow")
    body = flow_input(loaded, deployment.function_ids(), send_credentials(loaded))
    flow = session(loaded).specific_flow(flow_id)
    start_run(flow, body, label="palxfel-globus manual run", kind="manual", what="run", json_output=json_output)
