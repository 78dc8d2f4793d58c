# syntax=docker/dockerfile:1
#
# zapdesk production image: one image, three roles chosen by the command
# (`core`, `gateway`, `migrate`). See docker-compose.yml for how they are wired.

# ---- Stage 1: build the web UI (static files only) -------------------------
FROM node:20-slim AS webui
WORKDIR /build/webui
# Dependencies first, so this layer is reused while only sources change.
COPY webui/package.json webui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY webui/ ./
RUN npm run build

# ---- Stage 2: runtime -------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libmagic1: python-magic (pulled in by neonize) loads it at import time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 zapdesk \
    && useradd --system --uid 10001 --gid zapdesk --home-dir /app --shell /usr/sbin/nologin zapdesk

WORKDIR /app

# The repository (filtered by .dockerignore) brings pyproject.toml, the Python
# packages, alembic/ and alembic.ini (read from /app by `zapdesk migrate`).
# An editable install, so that core finds alembic/ and alembic.ini next to its sources
# (core/storage/migrations.py looks for them at the top of the source tree).
COPY . .
RUN pip install --no-cache-dir -e . \
    && test -f alembic.ini && test -d alembic

# Built web UI, served by core at `/`.
COPY --from=webui /build/webui/dist ./webui/dist

# Writable data dir for every role (the default `data` would be under the
# root-owned /app). Compose mounts a named volume here for the gateway; a fresh
# volume inherits this ownership.
RUN mkdir -p /data && chown zapdesk:zapdesk /data
ENV ZAPDESK_DATA_DIR=/data

USER zapdesk

EXPOSE 8080 8081

ENTRYPOINT ["zapdesk"]
CMD ["core"]
