#!/bin/bash
# One device call for issue 9's figures: per-launch host cost, lego400 training steps/s of the gsplat-based
# trainer (with its profile) and of ngfx's (new = this checkout; old = the ngfx tree in .bench/old, if there),
# ngfx's step profile, then `ngfx bench splat` with gsplat 1.5.3 (if .bench/test_garden.npz is there).
# Prepare here: copy ../shared/data/lego400 and gsplat-garden/test_garden.npz into .bench/ (ignored by git);
#   for old: mkdir -p .bench/old && git archive <old commit> ngfx | tar x -C .bench/old
# Usage on the device: bash tools/gpu_issue9_train.sh   (carry .whl, .commit, .bench)
set -u
. tools/gpu_setup.sh || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
G() { grep -v "^\[Taichi\]" "$@"; }
STOP=${STOP:-3000}
python3 tools/launch_overhead.py --arch cuda --json $OUT/launch.json 2>&1 | G | tail -12
if [ "${GPU_TESTS:-}" != none ]; then
  timeout 150 python3 -m pytest -q -x -m gpu -p no:cacheprovider ${GPU_TESTS:-tests/kernels/test_splat_tiles.py \
    tests/kernels/test_image_ssim.py} 2>&1 | tail -3
fi
timeout 240 python3 tools/gsplat_trainer.py .bench/lego400 --engine gsplat --stop $STOP --marks 500,1500 \
  --profile 1600:1660 > $OUT/gsplat.txt 2>&1
G $OUT/gsplat.txt | grep "it/s\|device time\|Error"
timeout 150 python3 tools/gsplat_trainer.py .bench/lego400 --engine ngfx --stop $STOP --marks 500,1500 \
  --profile 1600:1660 > $OUT/ngfx.txt 2>&1
G $OUT/ngfx.txt | grep "it/s\|device time\|Error"
if [ -d .bench/old/ngfx ]; then
  echo "== old tree"
  PYTHONPATH=/tmp/site:$PWD/.bench/old:$PWD timeout 150 python3 tools/gsplat_trainer.py .bench/lego400 --engine ngfx \
    --stop $STOP --marks 500,1500 2>&1 | G | grep "it/s"
fi
if [ -f .bench/test_garden.npz ] && [ "${SPLAT:-1}" = 1 ]; then
  timeout 300 python3 -m ngfx.cli.main bench splat --garden .bench/test_garden.npz --repeats ${REPEATS:-30} \
    --out $OUT/splat.json > $OUT/splat.log 2>&1
  G $OUT/splat.log | tail -14
fi
