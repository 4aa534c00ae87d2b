# syntax=docker/dockerfile:1
# Comptoir's production image: `docker build -t comptoir .`; compose.yaml runs it as app servers, workers and the
# one-shot migration. Two stages: the builder makes wheels of every pinned dependency (with a compiler, should one
# need building) and compiles the translations; the runtime stage installs those wheels only, runs as a user
# without privileges and carries no compiler, no pip cache and no build headers.

ARG PYTHON_VERSION=3.11

# --------------------------------------------------------------------------- builder
FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels -r requirements.txt
# The catalogues as `make translations` compiles them (the .mo files are not in git).
COPY app/translations app/translations
RUN /opt/venv/bin/pybabel compile -f -d app/translations

# --------------------------------------------------------------------------- runtime
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASK_APP=wsgi.py \
    COMPTOIR_ENV=production \
    GUNICORN_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/comptoir-metrics \
    LOG_FORMAT=json
RUN groupadd --system --gid 10001 comptoir \
    && useradd --system --uid 10001 --gid comptoir --home-dir /srv/comptoir --shell /usr/sbin/nologin comptoir
COPY --from=builder /opt/venv /opt/venv
WORKDIR /srv/comptoir
COPY --chown=root:root wsgi.py gunicorn.conf.py ./
COPY --chown=root:root app app
COPY --chown=root:root labels labels
COPY --chown=root:root migrations migrations
COPY --chown=root:root templates templates
COPY --chown=root:root static static
COPY --chown=root:root samples samples
COPY --from=builder --chown=root:root /build/app/translations app/translations
# The code belongs to root and is read-only for the app; only instance/ (unused in production: SECRET_KEY and
# DATABASE_URL come from the environment) and the metrics folder are the app's to write.
RUN mkdir -p instance /tmp/comptoir-metrics && chown comptoir:comptoir instance /tmp/comptoir-metrics
USER comptoir
EXPOSE 8000
# Liveness only (the process answers); load balancers and compose's depends_on use /readyz too (see compose.yaml).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
