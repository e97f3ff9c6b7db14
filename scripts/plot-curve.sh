#!/usr/bin/env bash
# plot-curve.sh LOG.csv OUT.png: the training curve (train and test NLL in
# bits/dim per epoch) from a `pixelcnn train --log` CSV, with gnuplot.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: scripts/plot-curve.sh LOG.csv OUT.png" >&2; exit 2; fi
log=$1 out=$2
[ -r "$log" ] || { echo "plot-curve.sh: $log: cannot read" >&2; exit 1; }
[ "$(wc -l < "$log")" -ge 2 ] || { echo "plot-curve.sh: $log: no epochs logged yet" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot-curve.sh: gnuplot not found (scripts/install-deps.sh installs gnuplot-nox)" >&2; exit 1; }
tmp="$out.tmp.$$.png"
gnuplot <<GP
set terminal pngcairo size 800,500
set output '$tmp'
set datafile separator ','
set key autotitle columnhead top right
set title 'PixelCNN training curve'
set xlabel 'epoch'
set ylabel 'NLL (bits/dim)'
set grid
plot '$log' using 2:4 with linespoints title 'train', \
     '$log' using 2:6 with linespoints title 'test'
GP
mv "$tmp" "$out"
