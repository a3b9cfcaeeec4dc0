#!/usr/bin/env bash
# Nightly incremental docexit run: a Cloud Scheduler job that calls the Dataflow flex template
# launch API (projects.locations.flexTemplates.launch) at 02:00 UTC with nightly-launch.json.
#
#   PROJECT=... BUCKET=gs://... RESULTS=gs://... INPUT='gs://archive/scans/**' \
#   SCHEDULER_SA=docexit-scheduler@PROJECT.iam.gserviceaccount.com \
#   WORKER_SA=docexit-worker@PROJECT.iam.gserviceaccount.com deploy/dataflow/schedule.sh
#
# The request body is fixed, so the per-night output prefix comes from `{run_date}`, which the
# template's entry point (flex_main.py) expands at launch; `skip_existing=true` makes each night
# process only the files earlier nights have not. SCHEDULER_SA needs roles/dataflow.developer
# and roles/iam.serviceAccountUser on WORKER_SA; WORKER_SA needs roles/dataflow.worker and
# read/write on the buckets.
set -euo pipefail
cd "$(dirname "$0")"

export PROJECT=${PROJECT:?set PROJECT}
export REGION=${REGION:-us-central1}
export BUCKET=${BUCKET:?set BUCKET}
export RESULTS=${RESULTS:?set RESULTS (gs:// root of the nightly outputs)}
export INPUT=${INPUT:?set INPUT (gs:// pattern of the archive)}
export IMAGE_TAG=${IMAGE_TAG:-0.1.0}
export WORKER_SA=${WORKER_SA:?set WORKER_SA}
SCHEDULER_SA=${SCHEDULER_SA:?set SCHEDULER_SA}
SCHEDULE=${SCHEDULE:-0 2 * * *}

body=$(envsubst '${PROJECT} ${REGION} ${BUCKET} ${RESULTS} ${INPUT} ${IMAGE_TAG} ${WORKER_SA}' \
  < nightly-launch.json)

gcloud scheduler jobs create http docexit-nightly \
  --project "${PROJECT}" \
  --location "${REGION}" \
  --schedule "${SCHEDULE}" \
  --time-zone UTC \
  --uri "https://dataflow.googleapis.com/v1b3/projects/${PROJECT}/locations/${REGION}/flexTemplates:launch" \
  --http-method POST \
  --headers Content-Type=application/json \
  --oauth-service-account-email "${SCHEDULER_SA}" \
  --oauth-token-scope https://www.googleapis.com/auth/cloud-platform \
  --message-body "${body}" \
  --attempt-deadline 180s
