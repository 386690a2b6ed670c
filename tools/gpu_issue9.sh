#!/bin/bash
# One device call for issue 9's measurements (old = the ngfx tree in .bench/old, new = this checkout):
# per-launch host cost, then `ngfx bench splat` with gsplat (new) and without (old), on one GPU.
# Prepare here: mkdir -p .bench/old && git archive <old commit> ngfx | tar x -C .bench/old;
#   cp ../shared/data/gsplat-garden/test_garden.npz .bench/   (.bench/ is in .git/info/exclude)
# Usage on the device: bash tools/gpu_issue9.sh   (carry .whl, .commit, .bench)
set -u
. tools/gpu_setup.sh || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
NEW=/tmp/site:$PWD OLD=/tmp/site:$PWD/.bench/old
for v in OLD NEW; do
  echo "== launch overhead, $v"; PYTHONPATH=${!v} python3 tools/launch_overhead.py --arch cuda --json $OUT/launch_$v.json
done
echo "== bench splat, NEW (with gsplat)"
PYTHONPATH=$NEW timeout 330 python3 -m ngfx.cli.main bench splat --garden .bench/test_garden.npz --repeats ${REPEATS:-30} \
  --out $OUT/splat_new.json 2>&1 | tee $OUT/splat_new.log | grep -v "^\[Taichi\]"
echo "== bench splat, OLD (ngfx only)"
PYTHONPATH=$OLD timeout 150 python3 -m ngfx.cli.main bench splat --garden .bench/test_garden.npz --repeats ${REPEATS:-30} \
  --no-gsplat --out $OUT/splat_old.json 2>&1 | tee $OUT/splat_old.log | grep -v "^\[Taichi\]"
