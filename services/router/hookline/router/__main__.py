"""``python -m hookline.router`` runs one router worker."""

from __future__ import annotations

import faust
import uvloop

from hookline.core import service
from hookline.router.app import create_app


def main() -> None:
    settings = service.load_settings()
    service.setup_logging(settings.log_level, secrets=service.secret_values(settings))
    # Faust's clients would only log a refusal, and retry: check first, as the app's group.
    service.check_kafka(settings, "router", groups=[f"{settings.topic_prefix}-router"])
    uvloop.install()
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
