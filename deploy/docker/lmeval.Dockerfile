# lm-evaluation-harness 0.4.13 engine image: budeval/engine-lmeval:0.4.13
# Build from the repository root:
#   docker build -f deploy/docker/lmeval.Dockerfile -t budeval/engine-lmeval:0.4.13 .
# Same pin as the local recipe (budeval/engines/lmeval/engine.py): lm-eval[api]==0.4.13.
# The Job runs: python /opt/budeval/runners/kube_job.py -- python /opt/budeval/runners/lmeval_runner.py
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/engine \
    PATH=/opt/engine/bin:$PATH \
    HOME=/tmp

# The engine's own environment, as in local mode.
RUN python -m venv /opt/engine \
 && pip install "lm-eval[api]==0.4.13"

# The in-run wrappers (standard library only); kube_job.py is the entrypoint.
COPY budeval/runners/ /opt/budeval/runners/

# Nothing may reach for a hub at run time (the backend sets these on the Job too).
ENV HF_HUB_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_EVALUATE_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false

RUN groupadd --gid 1000 budeval \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin budeval
USER 1000:1000
WORKDIR /tmp
ENTRYPOINT ["python", "/opt/budeval/runners/kube_job.py", "--"]
