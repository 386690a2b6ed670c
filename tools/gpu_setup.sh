#!/bin/bash
# Source this on the lent GPU machine (README of .library/device): unpacks the carried slim taichi
# (.whl/taichi-slim.tar.xz: the 1.7.4 cp312 wheel without c_api/ and examples/) and installs the carried
# wheels into /tmp/site, then points Python at them and at this checkout. Usage: `. tools/gpu_setup.sh`
mkdir -p /tmp/site
if [ -f .whl/taichi-slim.tar.xz ] && [ ! -d /tmp/site/taichi ]; then
  tar xJf .whl/taichi-slim.tar.xz -C /tmp/site || return 1
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || return 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
export NGFX_COMMIT=${NGFX_COMMIT:-$(cat .commit 2>/dev/null)}
