# syntax=docker/dockerfile:1
# docexit worker image (GPU): as worker.Dockerfile, with the CUDA build of torch.
#
# What differs from the CPU image, and why:
# - torch comes from PyPI (`torch==2.13.0`, the CUDA build) instead of the CPU index; it brings
#   the CUDA runtime, cuDNN and NCCL as nvidia-* wheels, so the base image stays the plain Beam SDK
#   image (no CUDA base image needed). The NVIDIA *driver* is not in the image: Dataflow installs
#   it on the VM (`--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver`)
#   and mounts it in; on Kubernetes the NVIDIA device plugin does.
# - The nvidia-* wheels are not in deploy/constraints.txt (made from a CPU environment): torch's
#   own exact pins choose them.
# - The image is ~6 GB larger; expect slower worker start-up (Dataflow caches it per VM).
# - At run time: --device=cuda, and one model per GPU shared by the worker processes of a VM
#   (--model-copies=1; see deploy/README.md "GPU workers").
# Build from the repository root:
#   docker build -f deploy/docker/worker-gpu.Dockerfile -t REGION-docker.pkg.dev/PROJECT/docexit/worker-gpu:VERSION .
FROM apache/beam_python3.11_sdk:2.77.0

ARG TORCH_VERSION=2.13.0
ARG MODEL_SRC=models/bundled

ENV OMP_THREAD_LIMIT=1 \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_PROGRESS_BARS=1 \
    TOKENIZERS_PARALLELISM=false \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/* \
    && tesseract --version

# torch first and pinned: the PyPI wheel for Linux x86_64 is the CUDA build.
COPY deploy/constraints.txt /opt/docexit/constraints.txt
RUN pip install "torch==${TORCH_VERSION}"

COPY . /opt/docexit/src
# No GPU at build time: only check that this torch was built with CUDA.
RUN pip install -c /opt/docexit/constraints.txt /opt/docexit/src \
    && pip check \
    && python -c "import apache_beam, torch, tesserocr, docexit.pipeline.run; assert apache_beam.__version__ == '2.77.0', apache_beam.__version__; assert torch.version.cuda, 'not a CUDA build of torch'"

COPY ${MODEL_SRC} /opt/docexit/model
RUN test -f /opt/docexit/model/config.json && test -f /opt/docexit/model/model.safetensors \
    && test -f /opt/docexit/model/tokenizer.json \
    || { echo "no checkpoint in MODEL_SRC=${MODEL_SRC} (config.json + model.safetensors + tokenizer.json)" >&2; exit 1; }

ENTRYPOINT ["/opt/apache/beam/boot"]
