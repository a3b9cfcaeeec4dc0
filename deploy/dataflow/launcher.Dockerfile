# syntax=docker/dockerfile:1
# Dataflow flex template launcher image: builds the docexit job graph and submits it.
#
# It needs docexit, its pinned dependencies and the same model as the workers (the launcher reads
# the checkpoint's config.json to resolve the exit policy and labels), at the same paths. torch is
# the CPU build: the launcher never runs the model. Build from the repository root:
#   docker build -f deploy/dataflow/launcher.Dockerfile -t REGION-docker.pkg.dev/PROJECT/docexit/launcher:VERSION .
# Pinned by tag; bump to a newer flex_templates_base_image_release_* tag deliberately.
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:flex_templates_base_image_release_20240628_RC00

ARG TORCH_VERSION=2.13.0
ARG MODEL_SRC=models/bundled

ENV HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_PROGRESS_BARS=1 \
    TOKENIZERS_PARALLELISM=false \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY deploy/constraints.txt /opt/docexit/constraints.txt
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"

COPY . /opt/docexit/src
RUN pip install -c /opt/docexit/constraints.txt /opt/docexit/src \
    && pip check \
    && python -c "import apache_beam, docexit.pipeline.build; assert apache_beam.__version__ == '2.77.0'"

COPY ${MODEL_SRC} /opt/docexit/model
COPY deploy/dataflow/flex_main.py /template/flex_main.py

# The launcher runs this file with the template's parameters. FLEX_TEMPLATE_PYTHON_SETUP_FILE and
# FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE are deliberately unset: docexit and its pinned
# dependencies are installed here and in the worker image (--sdk_container_image), so nothing is
# staged or pip-installed when a job starts.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/flex_main.py
