"""``hookline``: the command line for running, using and watching Hookline."""

from hookline.cli.main import cli, main

__all__ = ["cli", "main"]
