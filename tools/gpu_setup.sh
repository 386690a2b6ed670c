#!/bin/bash
# Source this on the lent GPU machine (README of .library/device): installs the carried wheels into /tmp/site
# and points Python at them and at this checkout. Usage: `. tools/gpu_setup.sh`
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || return 1
export PYTHONPATH=/tmp/site:$PWD
export NGFX_COMMIT=${NGFX_COMMIT:-$(cat .commit 2>/dev/null)}
