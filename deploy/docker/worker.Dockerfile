# syntax=docker/dockerfile:1
# docexit worker image (CPU): the Beam Python SDK container + Tesseract + docexit.
#
# Used by Dataflow workers (--sdk_container_image) and by the Flink Beam worker pool
# (`--worker_pool`, EXTERNAL environment). Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t REGION-docker.pkg.dev/PROJECT/docexit/worker:VERSION .
# The model baked in at /opt/docexit/model comes from MODEL_SRC (a checkpoint folder in the build
# context; default: the bundled model that `docexit train` writes to models/bundled/).
#
# Versions: the base tag must equal apache-beam in deploy/constraints.txt (2.77.0) and the
# Python of the launcher (3.11). Requirements come from pyproject.toml, pinned by
# deploy/constraints.txt (regenerate with deploy/update_constraints.sh).
FROM apache/beam_python3.11_sdk:2.77.0

ARG TORCH_VERSION=2.13.0
ARG MODEL_SRC=models/bundled

# OMP_THREAD_LIMIT=1: Tesseract's OpenMP threads make it 2-3x slower when every core already runs
# a Beam worker. No model hub in batch jobs.
ENV OMP_THREAD_LIMIT=1 \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_PROGRESS_BARS=1 \
    TOKENIZERS_PARALLELISM=false \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/* \
    && tesseract --version

# torch first and pinned, from the CPU index: a plain `torch` requirement pulls the CUDA build
# (several GB) that CPU workers never use.
COPY deploy/constraints.txt /opt/docexit/constraints.txt
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"

COPY . /opt/docexit/src
RUN pip install -c /opt/docexit/constraints.txt /opt/docexit/src \
    && pip check \
    && python -c "import apache_beam, torch, tesserocr, docexit.pipeline.run; assert apache_beam.__version__ == '2.77.0', apache_beam.__version__; assert not torch.cuda.is_available()"

COPY ${MODEL_SRC} /opt/docexit/model
RUN test -f /opt/docexit/model/config.json && test -f /opt/docexit/model/model.safetensors \
    && test -f /opt/docexit/model/tokenizer.json \
    || { echo "no checkpoint in MODEL_SRC=${MODEL_SRC} (config.json + model.safetensors + tokenizer.json)" >&2; exit 1; }

# The Beam SDK harness boot program: Dataflow and the Flink worker pool start it.
ENTRYPOINT ["/opt/apache/beam/boot"]
