"""The ``botkit`` command line: one module per command group (see :mod:`botkit.cli.app`)."""

from botkit.cli.app import cli, main

__all__ = ["cli", "main"]
