#!/usr/bin/env bash
# run.sh: the main job (`make run`): train a small PixelCNN on Fashion-MNIST,
# evaluate it, sample a grid of images, plot the training curve.
# Override the configuration with environment variables, e.g.
#   FILTERS=128 DEPTH=6 EPOCHS=20 make run
set -euo pipefail
BIN=${PIXELCNN_BIN:-build/pixelcnn}
OUT=${OUT:-runs/run}
FILTERS=${FILTERS:-64}
DEPTH=${DEPTH:-5}
BATCH=${BATCH:-32}
EPOCHS=${EPOCHS:-10}
STEPS=${STEPS:-300}
TEST_LIMIT=${TEST_LIMIT:-1000}
SAMPLES=${SAMPLES:-16}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$OUT"
echo "== make run: train F=$FILTERS D=$DEPTH batch $BATCH, $EPOCHS epochs x $STEPS steps on Fashion-MNIST (binarised, bernoulli head), $THREADS threads"
"$BIN" train --data fashion-mnist --binarize --filters "$FILTERS" --depth "$DEPTH" --batch "$BATCH" \
  --epochs "$EPOCHS" --steps "$STEPS" --test-limit "$TEST_LIMIT" --threads "$THREADS" \
  --out "$OUT/model.safetensors" --log "$OUT/train.csv"
echo "== evaluate on the full test set"
"$BIN" eval --ckpt "$OUT/model.safetensors" --data fashion-mnist --threads "$THREADS"
echo "== sample $SAMPLES images"
"$BIN" sample --ckpt "$OUT/model.safetensors" --n "$SAMPLES" --seed 1 --threads "$THREADS" \
  --scale 4 --out "$OUT/samples.png" --out-npy "$OUT/samples.npy"
"$BIN" sample --ckpt "$OUT/model.safetensors" --n 8 --seed 2 --threads "$THREADS" \
  --prime fashion-mnist --prime-rows 14 --scale 4 --out "$OUT/completions.png"
scripts/plot-curve.sh "$OUT/train.csv" "$OUT/curve.png"
echo "== files"
echo "  checkpoint   $OUT/model.safetensors"
echo "  training log $OUT/train.csv"
echo "  curve        $OUT/curve.png"
echo "  samples      $OUT/samples.png ($OUT/samples.npy)"
echo "  completions  $OUT/completions.png (top 14 rows from the test set, rest sampled)"
