#!/bin/sh
# Regenerates every golden under tests/goldens/ (see tests/goldens/README.md).
#   tools/goldens/make_all.sh ZH320_CHECKOUT SEGFORMER_CHECKOUT
set -e
ZH320=${1:?zh320 checkout}
SEGF=${2:?NVlabs SegFormer checkout}
PY=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../../tests/goldens}
SEED=${SEED:-0}
run() { net=$1; up=$2; shift 2; "$PY" "$HERE/make_golden.py" --upstream "$up" --net "$net" --seed "$SEED" "$@" --out "$OUT/$net.json"; }
run stdc1_aux "$ZH320" --size 64x128 --size 96x160 &
run stdc2_aux "$ZH320" --size 64x128 --size 96x160 &
run stdc1_detail "$ZH320" --size 64x128 --size 96x160 &
run stdc2_detail "$ZH320" --size 64x128 --size 96x160 &
wait
run ppliteseg_stdc1 "$ZH320" --size 64x128 --size 100x200 &
run ppliteseg_stdc2 "$ZH320" --size 64x128 --size 100x200 &
run bisenetv2_aux "$ZH320" --size 64x128 --size 96x160 &
run fastscnn "$ZH320" --size 64x128 --size 100x200 &
wait
run ddrnet23slim_aux "$ZH320" --size 64x128 --size 100x200 &
run ddrnet23_aux "$ZH320" --size 64x128 --size 100x200 &
run enet "$ZH320" --size 64x128 --size 72x120 &
run segformer_b0 "$SEGF" --size 64x128 --size 100x200 &
wait
