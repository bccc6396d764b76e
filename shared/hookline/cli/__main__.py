"""``python -m hookline.cli`` is the ``hookline`` command."""

from hookline.cli.main import main

main()
