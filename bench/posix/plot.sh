#!/usr/bin/env bash
# Draws bench/results/downtime.csv and parallel.csv (from bench_downtime) as
# PNG plots in the manner of the Nanvix papers' Figures 4 and 5: downtime
# versus threads, one line per heap page count; downtime versus container size
# beside the memcpy floor; downtime versus parallel migrations beside the
# memcpy floor of all their bytes.
# Usage: bench/posix/plot.sh [csv] [out-dir] [parallel-csv]
set -euo pipefail
csv=${1:-bench/results/downtime.csv}
out=${2:-$(dirname "$csv")}
pcsv=${3:-$(dirname "$csv")/parallel.csv}
command -v gnuplot >/dev/null || { echo "gnuplot is not installed (apt-get install gnuplot-nox)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for p in 0 8 16 32; do awk -F, -v p=$p 'NR > 1 && $2 == p' "$csv" > "$tmp/p$p.csv"; done
# parallel.csv: column 9 is 1 for pre-copy rows, 0 for stop-and-copy rows
awk -F, 'NR > 1 && $9 == 1' "$pcsv" > "$tmp/par_pre.csv"
awk -F, 'NR > 1 && $9 == 0' "$pcsv" > "$tmp/par_sc.csv"
gnuplot <<GP
set datafile separator ","
set terminal pngcairo size 900,540 noenhanced
set output "$out/downtime_threads.png"
set title "Migration downtime vs threads (POSIX port, 2 nodes, 342.8 KB user data)"
set xlabel "threads"; set ylabel "downtime (us, median)"; set key left top; set grid
plot for [p in "0 8 16 32"] "$tmp/p".p.".csv" using 1:5 with linespoints title p." heap pages (pre-copy)", \
     for [p in "0 8 16 32"] "$tmp/p".p.".csv" using 1:9 with linespoints dt 2 title p." heap pages (stop and copy)"
set output "$out/downtime_size.png"
set title "Migration downtime vs container size, beside the memcpy floor"
set xlabel "container image (KB)"; set ylabel "time (us)"; set logscale y; set key right center
plot "$csv" using (\$3/1000):5 skip 1 with points pt 7 title "downtime, pre-copy (median)", \
     "$csv" using (\$3/1000):9 skip 1 with points pt 6 title "downtime, stop and copy (median)", \
     "$csv" using (\$3/1000):7 skip 1 with points pt 5 title "memcpy of the same bytes"
set output "$out/downtime_parallel.png"
set title "Migration downtime vs parallel migrations (K containers, 2K node processes)"
set xlabel "migrations at once"; set ylabel "time (us)"; set logscale y; set logscale x 2
set xtics (1, 2, 4, 8); set xrange [0.8:10]; set yrange [1:1e6]; set key left top
plot "$tmp/par_pre.csv" using 1:4 with linespoints pt 7 title "downtime, pre-copy (median)", \
     "$tmp/par_pre.csv" using 1:5 with linespoints pt 9 title "downtime, pre-copy (max)", \
     "$tmp/par_sc.csv" using 1:4 with linespoints pt 6 title "downtime, stop and copy (median)", \
     "$tmp/par_sc.csv" using 1:5 with linespoints pt 8 title "downtime, stop and copy (max)", \
     "$tmp/par_pre.csv" using 1:7 with linespoints pt 5 title "memcpy of all containers' bytes"
GP
echo "wrote $out/downtime_threads.png $out/downtime_size.png $out/downtime_parallel.png"
