"""What the API serves for delivery: the attempt log, the dead letters and redelivery,
secret rotation. Their projections run in the worker role (``hookline.api.worker``)."""

from __future__ import annotations

from hookline.api.http import attempts, deadletters, rotation

routes = [*attempts.routes, *deadletters.routes, *rotation.routes]
