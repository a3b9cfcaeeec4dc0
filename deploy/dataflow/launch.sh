#!/usr/bin/env bash
# Launch docexit on Dataflow directly from this machine (no template): `docexit run` with the
# Dataflow runner and the worker image. Needs docexit installed here (`make venv`), gcloud
# credentials (Application Default Credentials) and a model folder at the same path as in the
# image (/opt/docexit/model by default: the launcher reads its config.json).
#
#   deploy/dataflow/launch.sh gpu   gs://archive/scans/*.tif gs://results/docexit/$(date +%F)/pages
#   deploy/dataflow/launch.sh cpu   gs://archive/scans/*.tif gs://results/docexit/$(date +%F)/pages
#
# Settings (environment): PROJECT, REGION, BUCKET (temp/staging), IMAGE_TAG, MODEL (default
# /opt/docexit/model), MAX_WORKERS, INCREMENTAL=1 (--skip-existing), EXTRA_ARGS.
# Flex template launches (for schedulers and the console) are in flex_template.sh.
set -euo pipefail

MODE=${1:?usage: launch.sh gpu|cpu INPUT_PATTERN OUTPUT_PREFIX}
INPUT=${2:?input pattern (gs://...)}
OUTPUT=${3:?output folder (gs://...)}
PROJECT=${PROJECT:?set PROJECT}
REGION=${REGION:-us-central1}
BUCKET=${BUCKET:?set BUCKET (gs://bucket for temp and staging files)}
IMAGE_TAG=${IMAGE_TAG:-0.1.0}
REPO=${REPO:-${REGION}-docker.pkg.dev/${PROJECT}/docexit}
MODEL=${MODEL:-/opt/docexit/model}
DOCEXIT=${DOCEXIT:-docexit}

# Beam / Dataflow pipeline options common to both variants.
PIPELINE_ARGS=(
  --runner=DataflowRunner
  "--project=${PROJECT}"
  "--region=${REGION}"
  "--temp_location=${BUCKET}/tmp"
  "--staging_location=${BUCKET}/staging"
  "--job_name=docexit-${MODE}-$(date -u +%Y%m%d-%H%M%S)"
  --experiments=use_runner_v2
  --sdk_location=container
)

case "$MODE" in
  gpu)
    # One L4 per VM; Dataflow installs the driver. g2-standard-8: 8 vCPUs for OCR (Tesseract is
    # CPU-bound), 1 GPU for the model. One SDK process per vCPU, all sharing one model on the GPU
    # (--model-copies=1 -> RunInference's large_model path).
    PIPELINE_ARGS+=(
      "--sdk_container_image=${REPO}/worker-gpu:${IMAGE_TAG}"
      "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"
      --machine_type=g2-standard-8
      "--max_num_workers=${MAX_WORKERS:-20}"
      --disk_size_gb=50
    )
    DOCEXIT_ARGS=(--device=cuda --model-copies=1 --batch-size=64 --torch-threads=2)
    ;;
  cpu)
    # CPU workers: OCR dominates; one model per SDK process, one torch thread each.
    PIPELINE_ARGS+=(
      "--sdk_container_image=${REPO}/worker:${IMAGE_TAG}"
      --machine_type=n2-standard-8
      "--max_num_workers=${MAX_WORKERS:-100}"
      --disk_size_gb=30
    )
    DOCEXIT_ARGS=(--device=cpu --batch-size=32 --torch-threads=1)
    ;;
  *)
    echo "launch.sh: mode must be gpu or cpu, got '$MODE'" >&2
    exit 2
    ;;
esac

DOCEXIT_ARGS+=(
  "--input=${INPUT}"
  "--output=${OUTPUT}"
  "--model=${MODEL}"
  --num-shards=16
)
if [[ "${INCREMENTAL:-0}" == 1 ]]; then
  DOCEXIT_ARGS+=(--skip-existing)
fi

# shellcheck disable=SC2086 # EXTRA_ARGS is a list of flags on purpose
exec "$DOCEXIT" run "${DOCEXIT_ARGS[@]}" "${PIPELINE_ARGS[@]}" ${EXTRA_ARGS:-}
