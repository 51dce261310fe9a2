"""Globus on one machine: an HTTP emulator of the Auth, Flows, Timers, Compute and Transfer APIs
that this product (and any globus-sdk client, the official ``globus`` CLI included) calls, backed
by the local engine. Point globus-sdk at it with the ``GLOBUS_SDK_SERVICE_URL_*`` variables that
``local serve`` writes to ``env.sh``; like LocalStack, it is a service emulator, not a mock: flows
run, timers fire, and scans land in the config's ``[local]`` directories.
"""
