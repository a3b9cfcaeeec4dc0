#!/usr/bin/env bash
# `docexit bench engine` on one CUDA GPU, in about eight minutes:
#   1. the bundled model (skipped with a note when none is installed), 1,000 synthetic pages;
#   2. LayoutLMv3-base size (12 layers, hidden 768, 12 heads, relative + spatial bias, 224 px
#      images, up to 511 text tokens), random weights, quantile exit thresholds: speed only;
#   3. the same size as a transformers LayoutLMv3ForSequenceClassification folder, imported:
#      bf16 parity with transformers' own model (docexit's bf16 error within transformers' own)
#      and the engine with untrained quarter exits added before its classifier (speed only).
# Engine runs at batch sizes 1, 8, 32, 64 with bf16 autocast. Figures: OUT_DIR/*.json, *.png.
#
# Usage: benchmarks/gpu.sh [OUT_DIR]    (default out/bench-gpu; needs a CUDA build of torch)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/bench-gpu}
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"

# A bare checkout on a GPU machine (torch and transformers installed, docexit not): the
# checkout's docexit/ folder links its folders under the `docexit` namespace.
if ! "$PY" -c 'import docexit.models' 2>/dev/null; then
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  echo "docexit is not installed: using this checkout ($PWD/docexit)"
fi

"$PY" - <<'PYEOF'
import sys

import torch

if not torch.cuda.is_available():
    sys.exit("benchmarks/gpu.sh: torch sees no CUDA device (a CUDA build of torch is needed)")
print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}", flush=True)
PYEOF

CORES=$(nproc)
WORKERS=$(( CORES > 8 ? 8 : CORES ))
COMMON=(--device cuda --pages 1000 --engine-step-sizes 1,8,32,64 --workers "$WORKERS" --no-progress)
BENCH=("$PY" -m docexit.pipeline.cli bench engine)

start=$SECONDS
if "$PY" -c 'from docexit.pipeline.defaults import bundled_model_dir; bundled_model_dir()' 2>/dev/null; then
  echo "== bundled model"
  timeout 120 "${BENCH[@]}" "${COMMON[@]}" --json "$OUT/engine_bundled.json"
else
  echo "== no bundled model installed: skipping its run"
fi
echo "== LayoutLMv3-base size, random weights ($((SECONDS - start)) s so far)"
timeout 170 "${BENCH[@]}" "${COMMON[@]}" --random-base --json "$OUT/engine_base_12x768.json"
echo "== bring your own LayoutLMv3: base size, random weights, imported ($((SECONDS - start)) s so far)"
"$PY" -m docexit.benchmarks.byo_standin random --out "$OUT/hf-base"
"$PY" -m docexit.pipeline.cli import --hf "$OUT/hf-base" --out "$OUT/base-imported"
timeout 90 "$PY" -m docexit.benchmarks.bf16_parity --hf "$OUT/hf-base" --model "$OUT/base-imported" \
  --random-pages 32 --device cuda --json "$OUT/bf16_parity.json" || echo "bf16 parity: FAIL (above)"
timeout 170 "${BENCH[@]}" "${COMMON[@]}" --model "$OUT/base-imported" --add-exits quarter \
  --json "$OUT/engine_imported_base.json"
echo "== done in $((SECONDS - start)) s; figures in $OUT"
