#!/usr/bin/env bash
# Submit a docexit run to the Flink cluster of flink-cluster.yaml.
#
#   deploy/flink/submit.sh INPUT_PATTERN OUTPUT_PREFIX
#
# RUNNER=portable (default): PortableRunner -> the in-cluster Beam job server (JOB_ENDPOINT),
#   which submits to Flink; nothing to download on this side.
# RUNNER=flink: FlinkRunner with --flink_submit_uber_jar straight to the JobManager's REST API
#   (FLINK_MASTER); Beam fetches the beam-runners-flink-1.20-job-server jar from Maven Central
#   unless FLINK_JOB_SERVER_JAR names a local copy.
# Either way the SDK workers are the worker-pool sidecars (EXTERNAL, localhost:50000 in each
# TaskManager pod). Runs wherever docexit is installed with the same model path as the worker
# image: the worker image itself (see cronjob.yaml) or a `make venv` checkout.
# INCREMENTAL=1 adds --skip-existing; PARALLELISM (default 16); EXTRA_ARGS are appended.
set -euo pipefail

INPUT=${1:?usage: submit.sh INPUT_PATTERN OUTPUT_PREFIX}
OUTPUT=${2:?output folder}
RUNNER=${RUNNER:-portable}
JOB_ENDPOINT=${JOB_ENDPOINT:-beam-job-server:8099}
FLINK_MASTER=${FLINK_MASTER:-http://flink-jobmanager:8081}
MODEL=${MODEL:-/opt/docexit/model}
DOCEXIT=${DOCEXIT:-docexit}

PIPELINE_ARGS=(
  --environment_type=EXTERNAL
  --environment_config=localhost:50000
  "--parallelism=${PARALLELISM:-16}"
  "--job_name=docexit-$(date -u +%Y%m%d-%H%M%S)"
)
case "$RUNNER" in
  portable)
    PIPELINE_ARGS+=(--runner=PortableRunner "--job_endpoint=${JOB_ENDPOINT}")
    ;;
  flink)
    PIPELINE_ARGS+=(
      --runner=FlinkRunner
      "--flink_master=${FLINK_MASTER}"
      --flink_version=1.20
      --flink_submit_uber_jar
    )
    if [[ -n "${FLINK_JOB_SERVER_JAR:-}" ]]; then
      PIPELINE_ARGS+=("--flink_job_server_jar=${FLINK_JOB_SERVER_JAR}")
    fi
    ;;
  *)
    echo "submit.sh: RUNNER must be portable or flink, got '$RUNNER'" >&2
    exit 2
    ;;
esac

DOCEXIT_ARGS=(
  "--input=${INPUT}"
  "--output=${OUTPUT}"
  "--model=${MODEL}"
  --device=cpu
  --num-shards=16
  --batch-size=32
  --torch-threads=1
)
if [[ "${INCREMENTAL:-0}" == 1 ]]; then
  DOCEXIT_ARGS+=(--skip-existing)
fi

# shellcheck disable=SC2086 # EXTRA_ARGS is a list of flags on purpose
exec "$DOCEXIT" run "${DOCEXIT_ARGS[@]}" "${PIPELINE_ARGS[@]}" ${EXTRA_ARGS:-}
