#!/bin/sh
# Regenerates every golden under tests/goldens/ (see tests/goldens/README.md).
#   tools/goldens/make_all.sh ZH320_CHECKOUT SEGFORMER_CHECKOUT [SEKD_CHECKOUT [FASTSEGFORMER_CHECKOUT]]
set -e
ZH320=${1:?zh320 checkout}
SEGF=${2:?NVlabs SegFormer checkout}
PY=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../../tests/goldens}
SEED=${SEED:-0}
run() { net=$1; up=$2; shift 2; "$PY" "$HERE/make_golden.py" --upstream "$up" --net "$net" --seed "$SEED" "$@" --out "$OUT/$net.json"; }
# float64 twins (NET_f64.json; the golden's "net" stays NET)
run64() { net=$1; up=$2; shift 2; "$PY" "$HERE/make_golden.py" --upstream "$up" --net "$net" --seed "$SEED" --dtype float64 "$@" --out "$OUT/${net}_f64.json"; }
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
run adscnet "$ZH320" --size 64x128 --size 96x160 &
run fpenet "$ZH320" --size 64x128 --size 96x160 &
run fssnet "$ZH320" --size 64x128 --size 96x160 &
run mininetv2 "$ZH320" --size 64x128 --size 96x160 &
wait
run erfnet "$ZH320" --size 64x128 --size 72x120 &
run edanet "$ZH320" --size 64x128 --size 100x200 &
run esnet "$ZH320" --size 64x128 --size 72x120 &
run fddwnet "$ZH320" --size 64x128 --size 72x120 --no-train &
wait
run cgnet "$ZH320" --size 64x128 --size 96x160 &
run cfpnet "$ZH320" --size 64x128 --size 96x160 &
run espnet "$ZH320" --size 64x128 --size 96x160 &
run espnetv2 "$ZH320" --size 64x128 --size 100x200 &
wait
# float64 twins of the nets whose float32 training step is too ill-conditioned to check (README)
run64() { net=$1; up=$2; shift 2; "$PY" "$HERE/make_golden_f64.py" --upstream "$up" --net "$net" --seed "$SEED" "$@" --out "$OUT/${net}_f64.json"; }
run64 stdc1_aux "$ZH320" --size 64x128 --size 96x160 &
run64 stdc2_aux "$ZH320" --size 64x128 --size 96x160 &
run64 stdc1_detail "$ZH320" --size 64x128 --size 96x160 &
run64 stdc2_detail "$ZH320" --size 64x128 --size 96x160 &
wait
run64 ppliteseg_stdc1 "$ZH320" --size 64x128 --size 100x200 &
run64 ppliteseg_stdc2 "$ZH320" --size 64x128 --size 100x200 &
run64 ddrnet23slim_aux "$ZH320" --size 64x128 --size 100x200 &
run64 ddrnet23_aux "$ZH320" --size 64x128 --size 100x200 &
run64 enet "$ZH320" --size 64x128 --size 72x120 &
wait
run64 fpenet "$ZH320" --size 64x128 --size 96x160 &
run64 fssnet "$ZH320" --size 64x128 --size 96x160 &
run64 mininetv2 "$ZH320" --size 64x128 --size 96x160 &
wait
run64 erfnet "$ZH320" --size 64x128 --size 72x120 &
run64 edanet "$ZH320" --size 64x128 --size 100x200 &
run64 esnet "$ZH320" --size 64x128 --size 72x120 &
"$PY" "$HERE/make_golden_f64.py" --upstream "$ZH320" --net fddwnet --seed "$SEED" --size 64x128 --size 72x120 \
    --config '{"name": "fddwnet", "num_classes": 19, "act_type": "relu6"}' --out "$OUT/fddwnet_relu6_f64.json" &
wait
wait
# LEDNet with PReLU: upstream's default ReLU cannot take a training step (the APN adds in place into ReLU outputs)
run lednet "$ZH320" --config '{"name": "lednet", "num_classes": 19, "act_type": "prelu"}' --size 64x128 --size 100x200
run64 lednet "$ZH320" --config '{"name": "lednet", "num_classes": 19, "act_type": "prelu"}' --size 64x128 --size 100x200
run aglnet "$ZH320" --size 64x128 --size 96x160
run64 aglnet "$ZH320" --size 64x128 --size 96x160
run dabnet "$ZH320" --size 64x128 --size 100x200
run64 dabnet "$ZH320" --size 64x128 --size 100x200
run mininet "$ZH320" --size 64x128 --size 128x192
run64 mininet "$ZH320" --size 64x128 --size 128x192
wait
run64 cgnet "$ZH320" --size 64x128 --size 96x160 &
run64 cfpnet "$ZH320" --size 64x128 --size 96x160 &
run64 espnet "$ZH320" --size 64x128 --size 96x160 &
run64 espnetv2 "$ZH320" --size 64x128 --size 100x200 &
wait
# torchvision backbones as zh320's models/backbone.py wraps them (eval stage outputs only)
for bb in resnet18 resnet50 mobilenet_v2; do
  "$PY" "$HERE/make_backbone_golden.py" --upstream "$ZH320" --backbone $bb --size 64x96 --seed "$SEED" --out "$OUT/backbone_$bb.json"
done
run linknet "$ZH320" --size 64x128 --size 96x160 &
run64 linknet "$ZH320" --size 64x128 --size 96x160 &
run linknet_resnet50 "$ZH320" --size 64x96 --no-train &
wait
run swiftnet "$ZH320" --size 64x128 --size 96x160 &
run64 swiftnet "$ZH320" --size 64x128 --size 96x160 &
run swiftnet_mobilenet_v2 "$ZH320" --size 64x96 --no-train &
wait
run bisenetv1 "$ZH320" --size 64x128 --size 96x160 &
run64 bisenetv1 "$ZH320" --size 64x128 --size 96x160 &
run bisenetv1_resnet50 "$ZH320" --size 64x96 --no-train &
wait
run contextnet "$ZH320" --size 64x128 --size 100x200
run64 contextnet "$ZH320" --size 64x128 --size 100x200
run sqnet "$ZH320" --size 64x128 --size 96x160
run64 sqnet "$ZH320" --size 64x128 --size 96x160
run segnet "$ZH320" --size 64x128 --size 96x160
run64 segnet "$ZH320" --size 64x128 --size 96x160
run regseg "$ZH320" --size 64x128 --size 96x160
run64 regseg "$ZH320" --size 64x128 --size 96x160
run dfanet "$ZH320" --size 64x128 --size 128x192
run64 dfanet "$ZH320" --size 64x128 --size 128x192 --batch 4
run litehrnet "$ZH320" --size 64x128 --size 96x160
run64 litehrnet "$ZH320" --size 64x128 --size 96x160 --batch 4
"$PY" "$HERE/make_golden.py" --upstream "$ZH320" --net litehrnet30 --seed "$SEED" --size 64x128 --no-train --out "$OUT/litehrnet30.json"
run canet "$ZH320" --size 64x128 --size 96x160 &
run64 canet "$ZH320" --size 64x128 --size 96x160 &
run canet_resnet18 "$ZH320" --size 64x96 --no-train &
wait
run fanet "$ZH320" --size 64x128 --size 128x192 &
run64 fanet "$ZH320" --size 64x128 --size 128x192 &
wait
run icnet_aux "$ZH320" --size 64x128 --size 96x160 &
run64 icnet_aux "$ZH320" --size 64x128 --size 96x160 &
run icnet_resnet50 "$ZH320" --size 64x96 --no-train &
run farseenet "$ZH320" --size 64x128 --size 96x160 &
run64 farseenet "$ZH320" --size 64x128 --size 96x160 &
wait
run liteseg "$ZH320" --size 64x128 --size 100x200 &
run64 liteseg "$ZH320" --size 64x128 --size 100x200 &
run liteseg_resnet18 "$ZH320" --size 72x120 --no-train &
wait
run shelfnet "$ZH320" --size 64x128 --size 96x160 &
run64 shelfnet "$ZH320" --size 64x128 --size 96x160 &
# segmentation-models-pytorch teachers through zh320's models/smp_wrapper.py (net smp): smp is not in
# Debian, so these run with SMP_PYTHON, a Python that has it (tests/goldens/README.md, "smp")
SMP_PY=${SMP_PYTHON:-$PY}
smp() { net=$1; shift; "$SMP_PY" "$HERE/make_golden.py" --upstream "$ZH320" --net "$net" --seed "$SEED" --no-train "$@" --out "$OUT/$net.json"; }
smp64() { net=$1; shift; "$SMP_PY" "$HERE/make_golden_f64.py" --upstream "$ZH320" --net "$net" --seed "$SEED" "$@" --out "$OUT/${net}_f64.json"; }
for d in deeplabv3p unet fpn; do
  smp smp_${d}_resnet18 --size 64x64 --size 64x96 &
  smp64 smp_${d}_resnet18 --size 64x64 --size 64x96 &
  wait
done
for d in deeplabv3 linknet manet pspnet unetpp; do
  smp smp_${d}_resnet18 --size 64x96 &
  smp64 smp_${d}_resnet18 --size 64x96 &
  wait
done
smp smp_pan_resnet18 --size 128x192 &
smp64 smp_pan_resnet18 --size 128x192 &
smp smp_deeplabv3p_resnet50 --size 64x96 &
wait
# XuJiacong/PIDNet (net pidnet): PIDNET, a checkout at 4c158cf
PIDNET=${PIDNET:-/tmp/upstream/pidnet}
run pidnet_s "$PIDNET" --size 64x128 --size 96x160 &
"$PY" "$HERE/make_golden_f64.py" --upstream "$PIDNET" --net pidnet_s --seed "$SEED" --size 64x128 --size 96x160 --out "$OUT/pidnet_s_f64.json" &
run pidnet_l "$PIDNET" --size 64x96 --no-train &
wait
# lxtGH/SFSegNets (net sfnet): SFSEGNETS=checkout, default /tmp/upstream/sfsegnets
SFSEG=${SFSEGNETS:-/tmp/upstream/sfsegnets}
for n in sfnet_r18 sfnet_lite_r18; do
  "$PY" "$HERE/make_golden.py" --upstream "$SFSEG" --net $n --seed "$SEED" --size 64x64 --size 64x96 --out "$OUT/$n.json" &
  "$PY" "$HERE/make_golden_f64.py" --upstream "$SFSEG" --net $n --seed "$SEED" --size 64x64 --size 64x96 --out "$OUT/${n}_f64.json" &
  wait
done
# MichaelFan01/STDC-Seg (net stdcseg): STDCSEG=checkout, default /tmp/upstream/stdcseg (59ff37f)
STDCSEG=${STDCSEG:-/tmp/upstream/stdcseg}
"$PY" "$HERE/make_golden.py" --upstream "$STDCSEG" --net stdcseg_stdc1 --seed "$SEED" --size 64x64 --size 96x160 --out "$OUT/stdcseg_stdc1.json" &
"$PY" "$HERE/make_golden_f64.py" --upstream "$STDCSEG" --net stdcseg_stdc1 --seed "$SEED" --size 64x64 --out "$OUT/stdcseg_stdc1_f64.json" &
wait
"$PY" "$HERE/make_golden.py" --upstream "$STDCSEG" --net stdcseg_stdc2 --seed "$SEED" --size 64x96 --out "$OUT/stdcseg_stdc2.json" &
"$PY" "$HERE/make_golden_f64.py" --upstream "$STDCSEG" --net stdcseg_stdc2 --seed "$SEED" --size 64x96 --out "$OUT/stdcseg_stdc2_f64.json" &
wait
# xl-alt/SEKD (third argument, optional)
SEKD=${3:-}
if [ -n "$SEKD" ]; then
  for n in sekd_student_b0 sekd_teacher_b0; do
    "$PY" "$HERE/make_golden.py" --upstream "$SEKD" --net $n --seed "$SEED" --size 64x64 --size 64x96 --out "$OUT/$n.json" &
    "$PY" "$HERE/make_golden_f64.py" --upstream "$SEKD" --net $n --seed "$SEED" --size 64x64 --size 64x96 --out "$OUT/${n}_f64.json" &
    wait
  done
  for n in sekd_teacher_b1 sekd_teacher_b2 sekd_teacher_b3; do
    "$PY" "$HERE/make_golden.py" --upstream "$SEKD" --net $n --seed "$SEED" --size 64x96 --no-train --out "$OUT/$n.json"
  done
  # the student on a B1 backbone: its embeddings take B1's stage widths (upstream FEF's defaults fit B0 only)
  "$PY" "$HERE/make_golden.py" --upstream "$SEKD" --net sekd_student_b1 --seed "$SEED" --size 64x64 --no-train \
    --out "$OUT/sekd_student_b1.json"
fi
# caixiongjiang/FastSegFormer 8f673e0: the fourth argument, else FASTSEGFORMER, else /tmp/upstream/fastsegformer
FSF=${4:-${FASTSEGFORMER:-/tmp/upstream/fastsegformer}}
# the Swin-T-Att-UNet teacher: square sizes only, as upstream
"$PY" "$HERE/make_golden.py" --upstream "$FSF" --net swin_t_att_unet --seed "$SEED" --size 64x64 --size 96x96 --out "$OUT/swin_t_att_unet.json" &
"$PY" "$HERE/make_golden_f64.py" --upstream "$FSF" --net swin_t_att_unet --seed "$SEED" --size 64x64 --size 96x96 --out "$OUT/swin_t_att_unet_f64.json" &
wait
run fastsegformer_e "$FSF" --size 224x224 &
run64 fastsegformer_e "$FSF" --size 224x224 &
run64 fastsegformer_e_fork "$FSF" --size 224x224 &
wait
run fastsegformer_p "$FSF" --size 224x224 &
run64 fastsegformer_p "$FSF" --size 224x224 &
run fastsegformer_p_fork "$FSF" --size 64x128 --size 96x160 &
run64 fastsegformer_p_fork "$FSF" --size 64x128 --size 96x160 &
wait
# open-mmlab/mmsegmentation projects/pp_mobileseg files (upstream_mmseg.py): PPMOBILESEG, default /tmp/upstream/ppmobileseg
PPMS=${PPMOBILESEG:-/tmp/upstream/ppmobileseg}
for n in pp_mobileseg_base pp_mobileseg_tiny; do
  "$PY" "$HERE/make_golden.py" --upstream "$PPMS" --net $n --seed "$SEED" --size 128x128 --size 96x160 --out "$OUT/$n.json" &
  "$PY" "$HERE/make_golden_f64.py" --upstream "$PPMS" --net $n --seed "$SEED" --size 128x128 --size 96x160 --out "$OUT/${n}_f64.json" &
  wait
done
# PaddleSeg's PP-LiteSeg restated in PyTorch (paddle_ppliteseg.py; no checkout, --upstream is not read)
for n in ppliteseg_paddle_t ppliteseg_paddle_b; do
  "$PY" "$HERE/make_golden.py" --upstream "$HERE" --net $n --seed "$SEED" --size 64x128 --size 100x200 --out "$OUT/$n.json" &
  "$PY" "$HERE/make_golden_f64.py" --upstream "$HERE" --net $n --seed "$SEED" --size 64x128 --size 100x200 --out "$OUT/${n}_f64.json" &
  wait
done
