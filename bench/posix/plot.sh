#!/usr/bin/env bash
# Draws bench/results/downtime.csv (from bench_downtime) as PNG plots in the
# manner of the Nanvix papers' Figure 4: downtime versus threads, one line per
# heap page count, and downtime versus container size beside the memcpy floor.
# Usage: bench/posix/plot.sh [csv] [out-dir]
set -euo pipefail
csv=${1:-bench/results/downtime.csv}
out=${2:-$(dirname "$csv")}
command -v gnuplot >/dev/null || { echo "gnuplot is not installed (apt-get install gnuplot-nox)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for p in 0 8 16 32; do awk -F, -v p=$p 'NR > 1 && $2 == p' "$csv" > "$tmp/p$p.csv"; done
gnuplot <<GP
set datafile separator ","
set terminal pngcairo size 900,540 noenhanced
set output "$out/downtime_threads.png"
set title "Migration downtime vs threads (POSIX port, 2 nodes, 342.8 KB user data)"
set xlabel "threads"; set ylabel "downtime (us, median)"; set key left top; set grid
plot for [p in "0 8 16 32"] "$tmp/p".p.".csv" using 1:5 with linespoints title p." heap pages"
set output "$out/downtime_size.png"
set title "Migration downtime vs container size, beside the memcpy floor"
set xlabel "container image (KB)"; set ylabel "time (us)"; set logscale y
plot "$csv" using (\$3/1000):5 skip 1 with points pt 7 title "downtime (median)", \
     "$csv" using (\$3/1000):7 skip 1 with points pt 5 title "memcpy of the same bytes"
GP
echo "wrote $out/downtime_threads.png $out/downtime_size.png"
