# syntax=docker/dockerfile:1
# One image for every app service of docker-compose.yml: migrate, worker, beat, flower.

# Build the wheel apart: the runtime stage holds the installed package only,
# never the source tree (a `tasks/` folder in the working directory would
# shadow the installed package, whose migrations live at tasks/schema).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# .dockerignore keeps the context to pyproject.toml, README.md, tasks/ and schema/.
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
# psycopg[binary] ships its own libpq: no compiler, no apt packages. Flower is
# for the `flower` service only: installed in the image, not a dependency of
# the package (docs/dev-stack.md).
RUN pip install /wheels/*.whl "flower>=2.0,<3" \
    && rm -rf /wheels \
    && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
WORKDIR /app
USER app

# docker-compose.yml sets each service's command; this one is the worker's.
CMD ["celery", "-A", "tasks", "worker", "-l", "INFO"]
