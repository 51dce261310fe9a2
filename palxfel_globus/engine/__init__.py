"""The local Globus Flows engine: run a flow definition offline, with local action providers."""

from palxfel_globus.engine.clock import Clock, VirtualClock
from palxfel_globus.engine.definition import load_definition, validate
from palxfel_globus.engine.errors import DefinitionError, FlowError, SimulatedCrash
from palxfel_globus.engine.faults import Corruption, Faults
from palxfel_globus.engine.providers.compute import BUNDLED, FunctionRef
from palxfel_globus.engine.runner import Engine

__all__ = [
    "BUNDLED",
    "Clock",
    "Corruption",
    "DefinitionError",
    "Engine",
    "Faults",
    "FlowError",
    "FunctionRef",
    "SimulatedCrash",
    "VirtualClock",
    "load_definition",
    "validate",
]
