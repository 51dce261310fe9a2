"""Automatic, verified backup of completed PAL-XFEL DAQ scans with Globus."""

__version__ = "0.1.0"
