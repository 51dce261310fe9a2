"""The ``palxfel-globus`` command: one module per command group, heavy imports inside commands.

Command modules do not use ``from __future__ import annotations``: on Python 3.9 Typer reads a
command's parameters without evaluating string annotations, and every ``Annotated`` option would
lose its name and help (tests/test_packaging.py checks this).
"""
