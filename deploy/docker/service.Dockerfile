# budeval service image: the API, the durable workflows and the Kubernetes backend.
# Build from the repository root:
#   docker build -f deploy/docker/service.Dockerfile -t budeval/service:0.1.0 -t budeval/service:latest .
# The same image runs the results-reader Jobs (`python -m budeval.runners.kube_results /output`)
# and the smoke engine's Jobs, so it also carries the in-run wrappers at /opt/budeval/runners/.
# Nothing secret is copied: API tokens and database URLs arrive as environment variables at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BUDEVAL_HOME=/var/lib/budeval \
    HOME=/tmp

RUN groupadd --gid 1000 budeval \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /var/lib/budeval \
      --shell /usr/sbin/nologin budeval \
 && install -d -o 1000 -g 1000 -m 0750 /var/lib/budeval

# Only what the package needs: no tests, no .venv, no local data dir, no .git.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY budeval/ ./budeval/
RUN pip install . \
 && rm -rf /src

COPY budeval/runners/ /opt/budeval/runners/

USER 1000:1000
WORKDIR /var/lib/budeval
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('BUDEVAL_PORT', '8080') + '/healthz', timeout=3)"]
ENTRYPOINT ["budeval", "serve"]
