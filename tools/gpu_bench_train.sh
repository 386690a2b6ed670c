#!/bin/bash
# `ngfx bench train` on a lent multi-GPU machine, where one call can carry at most 64 MiB: the captures
# arrive over several calls (ignored folders .dev-*/ holding parts of ../shared/data), and the runs go on
# in the background between calls (setsid), one queue of cases per GPU. Usage, one step per call:
#   tools/gpu_bench_train.sh setup            # unpack .dev-ti (slim taichi) and any carried .dev-*/ data
#   tools/gpu_bench_train.sh start GPU CASE.. # queue cases on GPU; each waits for /tmp/data/<case>.ready
#   tools/gpu_bench_train.sh wait SECONDS     # until every started case wrote its JSON, or SECONDS pass
#   tools/gpu_bench_train.sh collect          # JSONs, pictures and logs into $OUT
set -u
SRC=/tmp/ngfx-src
export PYTHONPATH=/tmp/site:$SRC NGFX_ARCH=${NGFX_ARCH:-cuda} PYTHONUNBUFFERED=1
declare -A FOLDER=([lego]=lego400 [fox]=fox [panoptic]=panoptic-basketball)

setup() {
  mkdir -p /tmp/data /tmp/site /tmp/bench
  if [ -d .dev-ti ] && [ ! -d /tmp/site/taichi ]; then
    tar xJf .dev-ti/taichi_slim.tar.xz -C /tmp/site || exit 1
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .dev-ti/*.whl || exit 1
  fi
  [ -d $SRC ] || { mkdir -p $SRC && cp -r ngfx tools $SRC/ && cp .commit $SRC/ 2>/dev/null; }
  for part in .dev-lego .dev-fox .dev-panA .dev-panB; do
    [ -d $part ] && cp -r $part/. /tmp/data/ && touch /tmp/data/$part.copied
  done
  [ -f /tmp/data/.dev-lego.copied ] && touch /tmp/data/lego.ready
  [ -f /tmp/data/.dev-fox.copied ] && touch /tmp/data/fox.ready
  [ -f /tmp/data/.dev-panA.copied ] && [ -f /tmp/data/.dev-panB.copied ] && touch /tmp/data/panoptic.ready
  ls /tmp/data; python3 -c "import taichi, torch; print('taichi', taichi.__version__, torch.cuda.device_count(), 'GPUs')"
}

queue() {  # GPU CASE...: run the cases one after another on one GPU
  local gpu=$1; shift
  for c in "$@"; do
    until [ -f /tmp/data/$c.ready ]; do sleep 2; done
    mkdir -p /tmp/bench/$c && cd /tmp/bench/$c
    CUDA_VISIBLE_DEVICES=$gpu NGFX_COMMIT=$(cat $SRC/.commit) python3 -m ngfx.cli.main bench train --cases $c \
      --data /tmp/data --out /tmp/bench/$c/train.json > /tmp/bench/$c/log.txt 2>&1
    echo $? > /tmp/bench/$c/rc
  done
}

case "$1" in
  setup) setup ;;
  start) shift; for c in "${@:2}"; do mkdir -p /tmp/bench/$c; echo "$c" >> /tmp/bench/started; done
         setsid nohup bash $SRC/tools/gpu_bench_train.sh queue "$@" > /tmp/bench/queue-$1.log 2>&1 < /dev/null & echo "queued $* " ;;
  queue) shift; queue "$@" ;;
  wait) end=$((SECONDS + $2))
        while [ $SECONDS -lt $end ]; do
          left=0; for c in $(cat /tmp/bench/started); do [ -f /tmp/bench/$c/rc ] || left=1; done
          [ $left = 0 ] && break; sleep 10
        done
        for c in $(cat /tmp/bench/started); do echo "== $c rc=$(cat /tmp/bench/$c/rc 2>/dev/null)"
          grep -v "^\[" /tmp/bench/$c/log.txt 2>/dev/null | tr '\r' '\n' | tail -n 6; done
        nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader ;;
  collect) for c in $(cat /tmp/bench/started); do
             cp /tmp/bench/$c/train.json $OUT/train-$c.json 2>/dev/null
             cp /tmp/bench/$c/train-$c.png $OUT/ 2>/dev/null
           done
           tar czf $OUT/logs.tgz -C /tmp/bench $(cd /tmp/bench && ls -d */log.txt */train-runs/*/metrics.jsonl \
             */train-runs/*/config.json 2>/dev/null) ;;
esac
