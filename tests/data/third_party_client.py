"""A client written only against globus-sdk and globus-compute-sdk, as someone outside this project
would write it: it knows nothing of 'local serve' and reads only the variables its SDKs read
(``GLOBUS_COMPUTE_CLIENT_ID``/``_SECRET`` and ``GLOBUS_SDK_ENVIRONMENT`` for the Compute SDK,
``GLOBUS_CLIENT_ID``/``_SECRET`` and ``GLOBUS_SDK_SERVICE_URL_*`` for globus-sdk).

    python third_party_client.py ENDPOINT SOURCE_COLLECTION DESTINATION_COLLECTION FILE

registers a function the Compute SDK's default way, makes a flow that runs it through the Compute
action provider (the v2 ``tasks`` form at /fxap, as Gladier writes it) and then copies FILE with a
Transfer action, runs it, follows the run to its end and prints the run and its log as JSON."""

import json
import os
import sys
import time

import globus_sdk
from globus_compute_sdk import Client


def shout(text):
    return text.upper() + "!"


def main(endpoint, source, destination, path):
    compute = Client()
    function_id = compute.register_function(shout)

    app = globus_sdk.ClientApp(
        "third-party-client", client_id=os.environ["GLOBUS_CLIENT_ID"], client_secret=os.environ["GLOBUS_CLIENT_SECRET"]
    )
    flows = globus_sdk.FlowsClient(app=app)
    definition = {
        "StartAt": "Shout",
        "States": {
            "Shout": {
                "Type": "Action",
                "ActionUrl": "https://compute.actions.globus.org/fxap",
                "Parameters": {
                    "tasks": [{"endpoint.$": "$.endpoint", "function.$": "$.function", "kwargs": {"text.$": "$.text"}}]
                },
                "ResultPath": "$.shouted",
                "ExceptionOnActionFailure": True,
                "Next": "Copy",
            },
            "Copy": {
                "Type": "Action",
                "ActionUrl": "https://transfer.actions.globus.org/transfer",
                "Parameters": {
                    "source_endpoint.$": "$.source",
                    "destination_endpoint.$": "$.destination",
                    "DATA": [{"source_path.$": "$.path", "destination_path": "/~/copied.txt"}],
                },
                "ResultPath": "$.copied",
                "ExceptionOnActionFailure": True,
                "End": True,
            },
        },
    }
    flow = flows.create_flow("third-party shout and copy", definition, {})
    body = {
        "endpoint": endpoint,
        "function": function_id,
        "text": "hello",
        "source": source,
        "destination": destination,
        "path": path,
    }
    run = globus_sdk.SpecificFlowClient(flow["id"], app=app).run_flow(body, label="third party")
    while flows.get_run(run["run_id"])["status"] in ("ACTIVE", "INACTIVE"):
        time.sleep(1)
    ended = flows.get_run(run["run_id"]).data
    log = [entry["code"] for entry in flows.get_run_logs(run["run_id"], limit=100)["entries"]]
    print(json.dumps({"function_id": function_id, "run": ended, "log": log}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
