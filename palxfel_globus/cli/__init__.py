"""The ``palxfel-globus`` command: one module per command group, heavy imports inside commands."""
