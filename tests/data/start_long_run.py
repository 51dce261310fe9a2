"""Start a run that takes an hour, through globus-sdk with env.sh's variables only (as another shell
would), and print its id once it is under way:

    python start_long_run.py wait                 # a Wait state of an hour
    python start_long_run.py compute ENDPOINT     # a Compute task that sleeps an hour
"""

import os
import sys
import time

from globus_sdk import ClientApp, ComputeClientV3, FlowsClient, SpecificFlowClient

NAP = "def nap():\n    import time\n    time.sleep(3600)\n"


def main(kind, endpoint=None):
    identity = {"client_id": os.environ["GLOBUS_CLIENT_ID"], "client_secret": os.environ["GLOBUS_CLIENT_SECRET"]}
    app = ClientApp("long-run", **identity)
    if kind == "wait":
        first, started = {"Type": "Wait", "Seconds": 3600, "Next": "Done"}, "WaitStarted"
    else:
        function = {"function_name": "nap", "function_code": NAP, "serialized": False}
        function_id = ComputeClientV3(app=app).register_function(function)["function_uuid"]
        tasks = [{"function_id": function_id}]
        first = {
            "Type": "Action",
            "ActionUrl": "https://compute.actions.globus.org/v3",
            "Parameters": {"endpoint_id": endpoint, "tasks": tasks},
            "WaitTime": 7200,
            "ResultPath": "$.napped",
            "Next": "Done",
        }
        started = "ActionStarted"
    definition = {"StartAt": "First", "States": {"First": first, "Done": {"Type": "Pass", "End": True}}}
    flows = FlowsClient(app=app)
    flow = flows.create_flow("takes an hour", definition, {})
    run = SpecificFlowClient(flow["id"], app=app).run_flow({})
    while started not in [entry["code"] for entry in flows.get_run_logs(run["run_id"])["entries"]]:
        time.sleep(0.2)
    print(run["run_id"])


if __name__ == "__main__":
    main(*sys.argv[1:3])
