#!/bin/bash
# One device call for issue 9's training figures on lego400 (.bench/lego400, copied from ../shared/data):
# the ngfx step profile, then steps/s of the gsplat-based trainer (with its profile) and of ngfx's trainer,
# new (this checkout) and old (the ngfx tree in .bench/old, if there), one after the other on one GPU.
# Prepare here: mkdir -p .bench/old && git archive <old commit> ngfx | tar x -C .bench/old
# Usage on the device: bash tools/gpu_issue9_train.sh   (carry .whl, .commit, .bench)
set -u
. tools/gpu_setup.sh || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
G() { grep -v "^\[Taichi\]" "$@"; }
STOP=${STOP:-3000}
timeout 200 python3 tools/profile_train.py .bench/lego400 --window 600:660 > $OUT/profile_ngfx.txt 2>&1
echo "profile rc $?"; head -3 $OUT/profile_ngfx.txt
timeout 200 python3 tools/gsplat_trainer.py .bench/lego400 --engine gsplat --stop $STOP --marks 500,1500 \
  --profile 600:660 > $OUT/gsplat.txt 2>&1
G $OUT/gsplat.txt | grep "it/s\|device time\|Error"
timeout 150 python3 tools/gsplat_trainer.py .bench/lego400 --engine ngfx --stop $STOP --marks 500,1500 2>&1 | G | tail -4
if [ -d .bench/old/ngfx ]; then
  echo "== old tree"
  PYTHONPATH=/tmp/site:$PWD/.bench/old:$PWD timeout 150 python3 tools/gsplat_trainer.py .bench/lego400 --engine ngfx \
    --stop $STOP --marks 500,1500 2>&1 | G | tail -4
fi
