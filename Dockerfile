# One image per service, each a target of this file, each holding only its own
# distribution, hookline-core and their dependencies as uv.lock pins them:
#   docker build --target deliverer -t hookline-deliverer .
# Targets: api, router, deliverer, retry-scheduler. docker-compose.yml builds all four.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv==0.13.8
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_NO_CACHE=1
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY shared ./shared
COPY services ./services

# `uv sync --package X --no-dev --no-editable` installs X, hookline-core and their locked
# dependencies (no dev tools, no other service) into /venv, as real wheels.
FROM build AS build-api
RUN UV_PROJECT_ENVIRONMENT=/venv uv sync --frozen --no-dev --no-editable --package hookline-api

FROM build AS build-router
RUN UV_PROJECT_ENVIRONMENT=/venv uv sync --frozen --no-dev --no-editable --package hookline-router

FROM build AS build-deliverer
RUN UV_PROJECT_ENVIRONMENT=/venv uv sync --frozen --no-dev --no-editable --package hookline-deliverer

FROM build AS build-retry-scheduler
RUN UV_PROJECT_ENVIRONMENT=/venv uv sync --frozen --no-dev --no-editable --package hookline-retry-scheduler

FROM python:3.11-slim AS runtime
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app
USER nobody

FROM runtime AS api
COPY --from=build-api /venv /venv
CMD ["hookline-api"]

FROM runtime AS router
COPY --from=build-router /venv /venv
CMD ["hookline-router"]

FROM runtime AS deliverer
COPY --from=build-deliverer /venv /venv
CMD ["hookline-deliverer"]

FROM runtime AS retry-scheduler
COPY --from=build-retry-scheduler /venv /venv
CMD ["hookline-retry-scheduler"]
