"""Every method 'local serve' answers, against globus-sdk's own registered response for that method.

Each call goes through the SDK client a program would use (so the request is the SDK's), and its
answer (status and JSON) is compared with ``globus_sdk.testing``'s data for the method: keys at
every level, value types, status codes, and each error with the service's error document. A
globus-sdk upgrade that changes its data shows here at once. The printed table lists each served
method, the case compared, and its verdict; a departure the comparison allows names its source
(see conformance_support.Rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
from conformance_support import Rules, Verdict, check, registered, table
from tests_support import serving

from palxfel_globus.demo import make_site

RUN_TIMEOUT = 120
TIMERS_TYPES = "create_timer's timer document (the v2 Timers API) carries it"
GLOBUS_CLI_READS = "the globus CLI's timer display reads it (globus_cli/commands/timer/_common.py)"
JS_ENDPOINT = "a GCSv5 field of the Transfer endpoint document (globus-sdk-javascript, services/transfer types)"
GCSV5_FIELDS = (
    "name canonical_name owner_id owner_string department keywords contact_email contact_info info_link user_message "
    "user_message_link subscription_id requester_pays gcs_version host_endpoint host_endpoint_display_name "
    "my_effective_roles network_use location max_concurrency preferred_concurrency max_parallelism "
    "preferred_parallelism local_user_info_available https_server gcs_manager_url high_assurance "
    "acl_max_expiration_period_mins authentication_timeout_mins authentication_assurance_timeout "
    "mapped_collection_id mapped_collection_display_name"
).split()
CREATED_201 = (201, "201: the Flows API's published types (globus-sdk-javascript open-api/types/flows.ts)")
ASK = {
    "StartAt": "Ask",
    "States": {
        "Ask": {
            "Type": "CreateWebInput",
            "Parameters": {
                "InputType": "Selection",
                "Context": {"PresentationStyle": "Text", "Title": "Ship it?", "Text": "Two scans are ready."},
                "Options": [{"Value": "yes", "Label": "Yes"}, {"Value": "no", "Label": "No"}],
            },
            "ResultPath": "$.web_input",
            "Next": "Await",
        },
        "Await": {
            "Type": "AwaitWebInput",
            "Parameters": {"web_input_id.$": "$.web_input.web_input_id"},
            "ResultPath": "$.answer",
            "Next": "Done",
        },
        "Done": {"Type": "Pass", "End": True},
    },
}
GREET = {
    "StartAt": "Greet",
    "States": {"Greet": {"Type": "Pass", "Parameters": {"text.=": "'hi ' + name"}, "ResultPath": "$.out", "End": True}},
}
WAIT = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "Next": "Done"}, "Done": {"Type": "Pass", "End": True}},
}
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def answered(call: Callable[[], Any]) -> tuple[int, Any]:
    """(status, JSON) of an SDK call, an error answer included."""
    from globus_sdk import GlobusAPIError

    try:
        response = call()
    except GlobusAPIError as error:
        return error.http_status, error.raw_json
    return response.http_status, response.data


class World:
    """One emulator with a flow, runs in each state, a timer, a task, an index and a function."""

    def __init__(self, server: Any, site: Any) -> None:
        from globus_sdk import (
            AuthClient,
            ClientApp,
            ComputeClientV2,
            ComputeClientV3,
            FlowsClient,
            SearchClient,
            TimersClient,
            TransferClient,
        )
        from globus_sdk.transport import RetryConfig

        self.server, self.site = server, site
        self.app = ClientApp("conformance", client_id=server.client_id, client_secret=server.secret)
        once = RetryConfig(max_retries=0)  # an injected 500 is answered, not retried
        self.flows = FlowsClient(app=self.app)
        self.timers = TimersClient(app=self.app, retry_config=once)
        self.transfer = TransferClient(app=self.app)
        self.search = SearchClient(app=self.app)
        self.auth = AuthClient(app=self.app)
        self.compute2, self.compute3 = ComputeClientV2(app=self.app), ComputeClientV3(app=self.app)
        self.collection, self.directory = next(iter(server.collections.items()))
        (self.directory / "conformance.txt").write_text("four")
        self.endpoint = server.config.daq.compute_endpoint
        self.index = server.config.catalog.index

    def specific(self, flow_id: str) -> Any:
        from globus_sdk import SpecificFlowClient

        return SpecificFlowClient(flow_id, app=self.app)

    def settled(self, run_id: str, status: str) -> dict[str, Any]:
        assert self.server.runs.wait_until(lambda: self.flows.get_run(run_id)["status"] == status, RUN_TIMEOUT)
        return self.flows.get_run(run_id).data


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp("conformance")
    site = make_site(tmp_path / "site", scans=2, total_bytes=4000, catalog=True)
    with pytest.MonkeyPatch.context() as monkeypatch, serving(site.config_path, tmp_path, monkeypatch) as server:
        yield World(server, site)


@pytest.fixture(autouse=True)
def pointed_at_the_emulator(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's globus-sdk calls go to the module's emulator (conftest clears the variables per test)."""
    for name, value in world.server.environment().items():
        monkeypatch.setenv(name, value)


class Walk:
    """One service's verdicts, each against the SDK's registered response for a method and case."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.verdicts: list[Verdict] = []

    def compare(
        self, method: str, case: str, answer: tuple[int, Any], rules: Optional[Rules] = None, index: int = 0
    ) -> None:
        expected = registered(f"{self.service}.{method}", case, index)
        self.verdicts.append(check(self.service, method, case, answer, expected, rules or Rules()))

    def against(
        self, method: str, case: str, answer: tuple[int, Any], expected: Any, rules: Optional[Rules] = None
    ) -> None:
        """For a method with no data of its own: the registered document of the same kind (a task, an index)."""
        self.verdicts.append(check(self.service, method, case, answer, (200, expected), rules or Rules()))


def flows_verdicts(world: World) -> list[Verdict]:
    flows, walk = world.flows, Walk("flows")

    flow_rules = Rules(free=("definition", "input_schema"), status=CREATED_201)
    created = answered(lambda: flows.create_flow("greet", GREET, SCHEMA, keywords=["conformance"]))
    walk.compare("create_flow", "default", created, flow_rules)
    flow_id = created[1]["id"]
    bad = ["ae341a98-d274-11e5-b888-dbae3a8ba545"]
    message = Rules(extra={"error": {"message": "the Flows 422 of validate_flow carries it"}})
    walk.compare(
        "create_flow",
        "bad_admin_principal_error",
        answered(lambda: flows.create_flow("x", GREET, {}, flow_administrators=bad)),
        message,
    )
    walk.compare("get_flow", "default", answered(lambda: flows.get_flow(flow_id)), flow_rules)
    walk.compare(
        "list_flows",
        "default",
        answered(lambda: flows.list_flows()),
        Rules(free=("flows[].definition", "flows[].input_schema")),
    )
    subscription = {"subscription_id": "00000000-3ba7-456e-9df7-fc40028f3331"}
    walk.compare(
        "update_flow",
        "default",
        answered(lambda: flows.update_flow(flow_id, subtitle="two", **subscription)),
        flow_rules,
    )
    walk.compare("validate_flow", "default", answered(lambda: flows.validate_flow(GREET)))
    broken = {"StartAt": "Step1", "States": {"Step1": {"Type": "Pass"}}}
    walk.compare("validate_flow", "definition_error", answered(lambda: flows.validate_flow(broken)))

    specific = world.specific(flow_id)
    walk.compare("validate_run", "default", answered(lambda: specific.validate_run({"name": "x"})))
    walk.compare("validate_run", "invalid_input_payload", answered(lambda: specific.validate_run({"name": 7})))
    started = answered(lambda: specific.run_flow({"name": "you"}, label="conformance", tags=["a"]))
    walk.compare("run_flow", "default", started, Rules(free=("details.details.input",), status=CREATED_201))
    run_id = started[1]["run_id"]
    world.settled(run_id, "SUCCEEDED")
    run_rules = Rules(free=("details.output",))
    walk.compare("get_run", "default", answered(lambda: flows.get_run(run_id)), run_rules)
    described = answered(lambda: flows.get_run(run_id, include_flow_description=True))
    walk.compare("get_run", "default", described, Rules(free=("details.output", "flow_description.keywords")), index=2)
    walk.verdicts[-1].case = "default (flow description)"
    walk.compare(
        "list_runs",
        "default",
        answered(lambda: flows.list_runs(filter_flow_id=flow_id)),
        Rules(free=("runs[].details.output",)),
    )
    walk.compare(
        "get_run_definition",
        "default",
        answered(lambda: flows.get_run_definition(run_id)),
        Rules(free=("definition", "input_schema")),
    )
    _status, default_log = registered("flows.get_run_logs")
    _status, paged_log = registered("flows.get_run_logs", "paginated")
    every_code = dict(default_log, entries=default_log["entries"] + paged_log["entries"])
    log_rules = Rules(free=("entries[].details.input", "entries[].details.output"))
    walk.against(
        "get_run_logs", "default + paginated", answered(lambda: flows.get_run_logs(run_id)), every_code, log_rules
    )
    walk.compare("update_run", "default", answered(lambda: flows.update_run(run_id, label="renamed")), run_rules)

    waiting = world.specific(flows.create_flow("wait", WAIT, {})["id"]).run_flow({})
    walk.compare("cancel_run", "default", answered(lambda: flows.cancel_run(waiting["run_id"])))
    walk.compare("delete_run", "default", answered(lambda: flows.delete_run(run_id)), Rules(free=("details.output",)))

    asking = world.specific(flows.create_flow("ask", ASK, {})["id"])
    asked = world.settled(asking.run_flow({})["run_id"], "INACTIVE")
    walk.compare("delete_run", "conflict", answered(lambda: flows.delete_run(asked["run_id"])))
    resumed = answered(lambda: asking.resume_run(asked["run_id"]))
    walk.compare("resume_run", "default", resumed, Rules(free=("details",)))
    web_input_id = asked["details"]["blocking_web_input_id"]
    input_rules = Rules(
        free=("context",), extra={"": {"debug_id": "the Flows errors of create_flow and validate_* carry it"}}
    )
    walk.compare("get_web_input", "default", answered(lambda: flows.get_web_input(web_input_id)), input_rules)
    walk.compare("list_web_inputs", "default", answered(lambda: flows.list_web_inputs()))
    walk.compare(
        "respond_to_web_input",
        "invalid_option",
        answered(lambda: flows.respond_to_web_input(web_input_id, value="nope")),
        input_rules,
    )
    option = flows.get_web_input(web_input_id)["options"][0]["option_id"]
    walk.compare(
        "respond_to_web_input", "default", answered(lambda: flows.respond_to_web_input(web_input_id, value=option))
    )
    walk.compare(
        "respond_to_web_input",
        "closed",
        answered(lambda: flows.respond_to_web_input(web_input_id, value=option)),
        input_rules,
    )
    missing = "3d9a4e7b-1c2f-4b8a-9e6d-5f7a8b6c2d1e"
    walk.compare(
        "respond_to_web_input",
        "not_found",
        answered(lambda: flows.respond_to_web_input(missing, value=option)),
        input_rules,
    )
    walk.compare("get_web_input", "not_found", answered(lambda: flows.get_web_input(missing)), input_rules)

    from globus_sdk import AccessTokenAuthorizer, SpecificFlowClient

    stranger = SpecificFlowClient(flow_id, authorizer=AccessTokenAuthorizer("not-a-token"))
    walk.compare("validate_run", "invalid_token", answered(lambda: stranger.validate_run({"name": "x"})))
    once_set = {"": {"subscription_id": "update_flow's data shows it on a flow that has one"}}
    walk.compare(
        "delete_flow",
        "default",
        answered(lambda: flows.delete_flow(flow_id)),
        Rules(extra=once_set, free=("definition", "input_schema")),
    )
    return walk.verdicts


def timer_verdicts(world: World) -> list[Verdict]:
    from globus_sdk import FlowTimer, RecurringTimerSchedule

    timers, walk = world.timers, Walk("timer")

    flow_id = world.flows.create_flow("greet", GREET, SCHEMA)["id"]
    schedule = RecurringTimerSchedule(3600)  # its first run at once, the next in an hour
    timer = FlowTimer(flow_id=flow_id, name="conformance", schedule=schedule, body={"body": {"name": "t"}})
    created = answered(lambda: timers.create_timer(timer))
    walk.compare("create_timer", "flow_timer_success", created, Rules(free=("timer.callback_body", "timer.schedule")))
    job_id = created[1]["timer"]["job_id"]
    assert world.server.runs.wait_until(lambda: timers.get_job(job_id)["n_runs"] == 1, RUN_TIMEOUT)
    job_rules = Rules(
        extra={"": {"activity": GLOBUS_CLI_READS, "schedule": TIMERS_TYPES, "timer_type": TIMERS_TYPES}},
        free=("callback_body", "schedule", "results.data[].data"),  # a flow timer's result is a run, not an action
    )
    walk.compare("get_job", "default", answered(lambda: timers.get_job(job_id)), job_rules)
    listed = Rules(
        extra={"jobs[]": job_rules.extra[""]},
        free=("jobs[].callback_body", "jobs[].schedule", "jobs[].results.data[].data"),
    )
    walk.compare("list_jobs", "default", answered(lambda: timers.list_jobs()), listed)
    walk.compare("pause_job", "default", answered(lambda: timers.pause_job(job_id)))
    walk.compare("resume_job", "default", answered(lambda: timers.resume_job(job_id)))
    world.server.inject("GET", r"/timer/jobs/", 500, times=1, code="ERROR", message="Request failed terribly")
    walk.compare("get_job", "simple_500_error", answered(lambda: timers.get_job(job_id)))
    walk.compare("delete_job", "default", answered(lambda: timers.delete_job(job_id)), job_rules)
    return walk.verdicts


def transfer_verdicts(world: World) -> list[Verdict]:
    from globus_sdk import DeleteData, TransferData

    transfer, walk = world.transfer, Walk("transfer")
    collection = world.collection

    gcsv5 = {key: JS_ENDPOINT for key in GCSV5_FIELDS}
    walk.compare(
        "get_endpoint", "default", answered(lambda: transfer.get_endpoint(collection)), Rules(extra={"": gcsv5})
    )
    walk.compare(
        "operation_stat", "default", answered(lambda: transfer.operation_stat(collection, "/~/conformance.txt"))
    )
    walk.compare("operation_stat", "not_found", answered(lambda: transfer.operation_stat(collection, "/~/nothing")))
    walk.compare("operation_mkdir", "default", answered(lambda: transfer.operation_mkdir(collection, "/~/made")))
    walk.compare("get_submission_id", "default", answered(lambda: transfer.get_submission_id()))
    copy = TransferData(source_endpoint=collection, destination_endpoint=collection, verify_checksum=True)
    copy.add_item("/~/conformance.txt", "/~/made/copy.txt")
    submitted = answered(lambda: transfer.submit_transfer(copy))
    walk.compare("submit_transfer", "default", submitted)
    empty = TransferData(source_endpoint=collection, destination_endpoint=collection)
    walk.compare("submit_transfer", "failure", answered(lambda: transfer.submit_transfer(empty)))
    task_id = submitted[1]["task_id"]
    assert transfer.task_wait(task_id, timeout=RUN_TIMEOUT, polling_interval=1)
    task_rules = Rules(extra={"DATA[]": {"DATA_TYPE": "the task document the SDK's get_job data embeds carries it"}})
    walk.compare("task_list", "default", answered(lambda: transfer.task_list()), task_rules)
    _status, tasks = registered("transfer.task_list")
    one_task = Rules(extra={"": task_rules.extra["DATA[]"]})
    walk.against(
        "get_task", "task_list DATA[0]", answered(lambda: transfer.get_task(task_id)), tasks["DATA"][0], one_task
    )
    doomed = DeleteData(endpoint=collection, recursive=True)
    doomed.add_item("/~/made")
    walk.compare("submit_delete", "default", answered(lambda: transfer.submit_delete(doomed)))
    walk.compare("cancel_task", "default", answered(lambda: transfer.cancel_task(task_id)), Rules())
    walk.verdicts[-1].note = "the task had ended: code TaskComplete"
    return walk.verdicts


def search_verdicts(world: World) -> list[Verdict]:
    search, walk = world.search, Walk("search")

    created = answered(lambda: search.create_index("conformance", "an index for the conformance test"))
    walk.compare("create_index", "default", created)
    index = created[1]["id"]
    entry = {"subject": "s1", "visible_to": ["public"], "content": {"foo": "bar"}}
    assert search.ingest(index, {"ingest_type": "GMetaEntry", "ingest_data": entry})["acknowledged"]
    hits = Rules(free=("gmeta[].entries[].content",))
    walk.compare("search", "default", answered(lambda: search.search(index, "bar")), hits)
    walk.compare("post_search", "default", answered(lambda: search.post_search(index, {"q": "bar"})), hits)
    walk.compare("index_list", "default", answered(lambda: search.index_list()))
    _status, listed = registered("search.index_list")
    walk.against("get_index", "index_list[0]", answered(lambda: search.get_index(index)), listed["index_list"][0])
    walk.compare("batch_delete_by_subject", "default", answered(lambda: search.batch_delete_by_subject(index, ["s1"])))
    missing = "00000000-0000-4000-8000-000000000404"
    error_rules = Rules(
        optional={
            "error_data": {"constraint": "Search's error_data differs per error (update_index forbidden has none)"}
        }
    )
    error_rules.status = (404, "a missing index; the SDK's Search errors are a 409 and a 403")
    walk.compare("create_index", "trial_limit", answered(lambda: search.get_index(missing)), error_rules)
    walk.verdicts[-1].case = "error document (GError)"
    walk.compare("delete_index", "default", answered(lambda: search.delete_index(index)))
    return walk.verdicts


def auth_verdicts(world: World) -> list[Verdict]:
    from globus_sdk import AccessTokenAuthorizer, AuthClient, ConfidentialAppAuthClient
    from globus_sdk.scopes import TransferScopes

    walk, server = Walk("auth"), world.server

    client = ConfidentialAppAuthClient(server.client_id, server.secret)
    tokens = answered(lambda: client.oauth2_client_credentials_tokens(requested_scopes=TransferScopes.all))
    walk.compare("oauth2_client_credentials_tokens", "default", tokens)
    walk.compare(
        "oauth2_token_introspect",
        "default",
        answered(lambda: client.oauth2_token_introspect(tokens[1]["access_token"])),
    )
    walk.compare("get_identities", "default", answered(lambda: world.auth.get_identities(ids=server.client_id)))
    stranger = AuthClient(authorizer=AccessTokenAuthorizer("not-a-token"))
    walk.compare("get_identities", "unauthorized", answered(lambda: stranger.get_identities(ids=server.client_id)))
    walk.compare("userinfo", "unauthorized", answered(lambda: stranger.userinfo()))
    return walk.verdicts


def compute_verdicts(world: World) -> list[Verdict]:
    v2, v3, walk = world.compute2, world.compute3, Walk("compute")

    walk.compare("v2.get_version", "default", answered(lambda: v2.get_version()))
    read = {"": {"min_ep_version": "the Compute SDK's version check reads it (globus_compute_sdk/sdk/client.py)"}}
    walk.compare("v2.get_version", "all", answered(lambda: v2.get_version(service="all")), Rules(extra=read))
    function = {"function_name": "double", "function_code": "def double(x):\n    return 2 * x\n", "serialized": False}
    registered_v3 = answered(lambda: v3.register_function(function))
    walk.compare("v3.register_function", "default", registered_v3)
    walk.compare("v2.register_function", "default", answered(lambda: v2.register_function(function)))
    function_id = registered_v3[1]["function_uuid"]
    walk.compare("v2.get_function", "default", answered(lambda: v2.get_function(function_id)))
    walk.compare("v2.get_endpoint", "default", answered(lambda: v2.get_endpoint(world.endpoint)))
    walk.compare("v2.get_endpoint_status", "default", answered(lambda: v2.get_endpoint_status(world.endpoint)))
    walk.compare("v3.get_endpoint_allowlist", "default", answered(lambda: v3.get_endpoint_allowlist(world.endpoint)))
    return walk.verdicts


def test_every_served_method_answers_in_the_shape_of_the_sdk_s_registered_response(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    verdicts = [
        *auth_verdicts(world),
        *flows_verdicts(world),
        *timer_verdicts(world),
        *transfer_verdicts(world),
        *search_verdicts(world),
        *compute_verdicts(world),
    ]
    with capsys.disabled():
        print("\n" + table(verdicts))
    assert [verdict for verdict in verdicts if not verdict.ok] == []


def test_the_comparison_sees_a_missing_key_an_extra_key_and_a_wrong_type() -> None:
    """The comparison itself can fail: what it reports for a flow document that departs three ways."""
    from conformance_support import differences

    _status, flow = registered("flows.get_flow")
    departed = {key: value for key, value in flow.items() if key != "action_url"}
    departed.update(run_url="https://x/run", synchronous="no")
    assert differences(departed, flow, Rules(free=("definition", "input_schema"))) == [
        "(top): lacks 'action_url'",
        "(top): has 'run_url', which the SDK's data does not",
        "synchronous: string where the SDK's data has boolean",
    ]


def _served_routes() -> set[str]:
    from palxfel_globus.emulator.server import ROUTES

    return {f"{method} /{route.service}{route.rule}" for route in ROUTES for method in route.methods}


def test_every_route_is_in_the_conformance_walk_or_named_as_having_no_registered_response() -> None:
    """A route added later must join the walk above, or say here why the SDK has nothing to compare it with."""
    no_registered_response = {
        "GET /auth/v2/oauth2/userinfo": "only its errors are registered (compared above)",
        "POST /auth/v2/oauth2/userinfo": "the same userinfo, asked with POST",
        "GET /transfer/v0.10/endpoint_search": "no response registered for endpoint_search",
        "GET /transfer/v0.10/operation/endpoint/<collection_id>/ls": "no response registered for operation_ls",
        "GET /transfer/v0.10/endpoint/<collection_id>/access_list": "no response registered for endpoint_acl_list",
        "POST /search/v1/index/<index_id>/ingest": "no response registered for ingest",
        "POST /search/v1/index/<index_id>/delete_by_query": "no response registered for delete_by_query",
        "GET /search/v1/index/<index_id>/subject": "no response registered for get_subject",
        "DELETE /search/v1/index/<index_id>/subject": "no response registered for delete_subject",
        "GET /search/v1/task/<task_id>": "no response registered for get_task",
        "GET /search/v1/task_list/<index_id>": "no response registered for get_task_list",
    }
    walked = {
        "POST /auth/v2/oauth2/token", "POST /auth/v2/oauth2/token/introspect", "GET /auth/v2/api/identities",
        "POST /flows/flows", "GET /flows/flows", "POST /flows/flows/validate", "GET /flows/flows/<flow_id>",
        "PUT /flows/flows/<flow_id>", "DELETE /flows/flows/<flow_id>", "POST /flows/flows/<flow_id>/run",
        "POST /flows/flows/<flow_id>/validate_run", "GET /flows/runs", "GET /flows/runs/<run_id>",
        "PUT /flows/runs/<run_id>", "GET /flows/runs/<run_id>/definition", "GET /flows/runs/<run_id>/log",
        "POST /flows/runs/<run_id>/cancel", "POST /flows/runs/<run_id>/release", "POST /flows/runs/<run_id>/resume",
        "GET /flows/web_inputs", "GET /flows/web_inputs/<web_input_id>",
        "POST /flows/web_inputs/<web_input_id>/respond",
        "POST /timer/v2/timer", "GET /timer/jobs", "GET /timer/jobs/<timer_id>", "DELETE /timer/jobs/<timer_id>",
        "POST /timer/jobs/<timer_id>/pause", "POST /timer/jobs/<timer_id>/resume",
        "GET /transfer/v0.10/endpoint/<collection_id>", "GET /transfer/v0.10/operation/endpoint/<collection_id>/stat",
        "POST /transfer/v0.10/operation/endpoint/<collection_id>/mkdir", "GET /transfer/v0.10/submission_id",
        "POST /transfer/v0.10/transfer", "POST /transfer/v0.10/delete", "GET /transfer/v0.10/task/<task_id>",
        "GET /transfer/v0.10/task_list", "POST /transfer/v0.10/task/<task_id>/cancel",
        "POST /search/v1/index", "DELETE /search/v1/index/<index_id>", "GET /search/v1/index_list",
        "GET /search/v1/index/<index_id>", "GET /search/v1/index/<index_id>/search",
        "POST /search/v1/index/<index_id>/search", "POST /search/v1/index/<index_id>/batch_delete_by_subject",
        "GET /compute/v2/version", "POST /compute/v3/functions", "POST /compute/v2/functions",
        "GET /compute/v2/functions/<function_id>", "GET /compute/v2/endpoints/<endpoint_id>",
        "GET /compute/v2/endpoints/<endpoint_id>/status", "GET /compute/v3/endpoints/<endpoint_id>/allowed_functions",
    }  # fmt: skip
    assert _served_routes() - walked - set(no_registered_response) == set()
    assert walked | set(no_registered_response) <= _served_routes()


def test_a_path_beyond_the_walk_is_refused_in_the_service_s_own_error_shape(world: World) -> None:
    """Even a route nobody emulates answers as that service's errors do (Transfer: code, message, resource)."""
    status, document = answered(lambda: world.transfer.get(Path("/v0.10/endpoint_manager/task_list").as_posix()))
    assert status == 404 and sorted(document) == ["code", "message", "request_id", "resource"]
