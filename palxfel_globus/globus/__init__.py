"""Talking to Globus: only through globus-sdk (4.x) and the globus-compute-sdk, imported lazily."""
