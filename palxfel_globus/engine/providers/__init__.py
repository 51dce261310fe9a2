"""Local stand-ins for the Globus action providers, selected by action URL."""
