# Ampflow CSMS image: one image, many roles.
# The role is the `ampflow` subcommand: api (default), gateway, worker, migrate, seed, ...
#   docker build -t ampflow .
#   docker run --rm ampflow migrate
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Unprivileged runtime user (fixed uid/gid so volume ownership is predictable).
RUN groupadd --system --gid 10001 ampflow \
 && useradd --system --uid 10001 --gid ampflow --create-home --home-dir /home/ampflow ampflow

WORKDIR /app

# Copy the repo (trimmed by .dockerignore) and install with the pinned constraints.
# Files stay root-owned, so the app cannot modify its own code at runtime.
COPY . .
RUN pip install --no-cache-dir -c constraints.txt .

# Writable state directory for the app user (the default ./.ampflow would be under /app).
ENV AMPFLOW_DATA_DIR=/var/lib/ampflow
RUN mkdir -p /var/lib/ampflow && chown ampflow:ampflow /var/lib/ampflow

USER ampflow

# 8000 = REST API (api_port), 9000 = OCPP WebSocket gateway (gateway_port).
EXPOSE 8000 9000

ENTRYPOINT ["ampflow"]
CMD ["api"]
