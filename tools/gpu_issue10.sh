#!/bin/bash
# One device call for issue 10's figures: GPU tests of the field kernels (cuda backend), `ngfx bench fields`,
# and a gigapixel-image fit of albert.exr with its render (if .bench10/albert.exr is there).
# Prepare here: cp ../shared/data/albert/albert.exr .bench10/ (ignored by git); the OpenEXR cp312 wheel in .whl/.
# Usage on the device: bash tools/gpu_issue10.sh   (carry .whl, .commit, .bench10)
set -u
. tools/gpu_setup.sh || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
G() { grep -v "^\[Taichi\]" "$@"; }
if [ "${GPU_TESTS:-}" != none ]; then
  timeout 200 python3 -m pytest -q -x -m gpu -p no:cacheprovider ${GPU_TESTS:-tests/kernels/test_encodings_hashgrid.py \
    tests/kernels/test_networks_mlp.py tests/kernels/test_networks_field.py} 2>&1 | tail -3
fi
timeout ${BENCH_S:-300} python3 -m ngfx.cli.main bench fields --repeats ${REPEATS:-20} --out $OUT/fields.json \
  > $OUT/fields.log 2>&1
G $OUT/fields.log | tail -24
if [ -f .bench10/albert.exr ] && [ "${GIA:-1}" = 1 ]; then
  timeout 200 python3 -m ngfx.cli.main train .bench10/albert.exr --method image --max-seconds ${GIA_S:-60} \
    --out /tmp/albert-run --no-progress 2>&1 | G | tail -5
  python3 -m ngfx.cli.main render /tmp/albert-run --out $OUT/albert.png 2>&1 | G | tail -2
  python3 -m ngfx.cli.main render /tmp/albert-run --out $OUT/albert_zoom.png --width 1024 --height 1024 \
    --region 0.45,0.3,0.5,0.35 2>&1 | G | tail -2
  cp /tmp/albert-run/metrics.jsonl $OUT/ 2>/dev/null
fi
