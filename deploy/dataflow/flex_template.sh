#!/usr/bin/env bash
# Build, push and run the docexit Dataflow flex template.
#
#   deploy/dataflow/flex_template.sh build            # images + template spec on GCS
#   deploy/dataflow/flex_template.sh run-gpu INPUT OUTPUT [INCREMENTAL=true|false]
#   deploy/dataflow/flex_template.sh run-cpu INPUT OUTPUT [INCREMENTAL=true|false]
#
# Settings (environment): PROJECT, REGION, BUCKET (gs://... for the template spec, temp and
# staging), IMAGE_TAG, MODEL_SRC (checkpoint folder in this repository to bake into the images),
# MAX_WORKERS.
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=${PROJECT:?set PROJECT}
REGION=${REGION:-us-central1}
BUCKET=${BUCKET:?set BUCKET}
IMAGE_TAG=${IMAGE_TAG:-0.1.0}
REPO=${REPO:-${REGION}-docker.pkg.dev/${PROJECT}/docexit}
MODEL_SRC=${MODEL_SRC:-models/bundled}
TEMPLATE=${TEMPLATE:-${BUCKET}/templates/docexit-${IMAGE_TAG}.json}

build() {
  for image in worker worker-gpu; do
    docker build -f "deploy/docker/${image}.Dockerfile" --build-arg "MODEL_SRC=${MODEL_SRC}" \
      -t "${REPO}/${image}:${IMAGE_TAG}" .
    docker push "${REPO}/${image}:${IMAGE_TAG}"
  done
  docker build -f deploy/dataflow/launcher.Dockerfile --build-arg "MODEL_SRC=${MODEL_SRC}" \
    -t "${REPO}/launcher:${IMAGE_TAG}" .
  docker push "${REPO}/launcher:${IMAGE_TAG}"
  gcloud dataflow flex-template build "${TEMPLATE}" \
    --image "${REPO}/launcher:${IMAGE_TAG}" \
    --sdk-language PYTHON \
    --metadata-file deploy/dataflow/metadata.json \
    --project "${PROJECT}"
  echo "template: ${TEMPLATE}"
}

run() {
  local variant=$1 input=$2 output=$3 incremental=${4:-false}
  # Template parameters (metadata.json names). Joined with `~` below, with gcloud's `^~^` prefix
  # that makes `~` the separator: values keep their `,` (several input patterns) and `;`.
  local params=(
    "input=${input}"
    "output=${output}"
    "skip_existing=${incremental}"
    "num_shards=16"
  )
  local flags=(
    --project "${PROJECT}"
    --region "${REGION}"
    --template-file-gcs-location "${TEMPLATE}"
    --temp-location "${BUCKET}/tmp"
    --staging-location "${BUCKET}/staging"
    --additional-experiments use_runner_v2
  )
  if [[ "$variant" == gpu ]]; then
    params+=(
      "sdk_container_image=${REPO}/worker-gpu:${IMAGE_TAG}"
      "dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"
      device=cuda
      model_copies=1
      batch_size=64
      torch_threads=2
    )
    flags+=(--worker-machine-type g2-standard-8 --max-workers "${MAX_WORKERS:-20}")
  else
    params+=(
      "sdk_container_image=${REPO}/worker:${IMAGE_TAG}"
      device=cpu
      batch_size=32
      torch_threads=1
    )
    flags+=(--worker-machine-type n2-standard-8 --max-workers "${MAX_WORKERS:-100}")
  fi
  local joined
  joined=$(IFS='~'; echo "${params[*]}")
  gcloud dataflow flex-template run "docexit-${variant}-$(date -u +%Y%m%d-%H%M%S)" \
    "${flags[@]}" --parameters "^~^${joined}"
}

case "${1:-}" in
  build) build ;;
  run-gpu) run gpu "${2:?input}" "${3:?output}" "${4:-false}" ;;
  run-cpu) run cpu "${2:?input}" "${3:?output}" "${4:-false}" ;;
  *)
    echo "usage: flex_template.sh build | run-gpu INPUT OUTPUT [true|false] | run-cpu INPUT OUTPUT [true|false]" >&2
    exit 2
    ;;
esac
