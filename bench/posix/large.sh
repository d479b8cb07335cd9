#!/usr/bin/env bash
# Runs bench_large for containers of 16, 64 and 256 MiB (one build each),
# joins their CSVs into bench/results/large.csv and draws, per write rate,
# the downtime and the total migration time of every mode versus the
# container's size, beside the memcpy floor of its bytes.
# Usage: bench/posix/large.sh [build-dir] [migrations per row]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/dev}
migs=${2:-5}
out=$root/bench/results
mkdir -p "$out"
head=
for mib in 16 64 256; do
    exe=$build/bench/posix/bench_large_${mib}m
    [ -x "$exe" ] || { echo "large.sh: $exe is not built (cmake --build $build --target bench_large_${mib}m)"; exit 1; }
    "$exe" "$migs" "$out/large_${mib}m.csv"
done
{
    head -n1 "$out/large_16m.csv"
    for mib in 16 64 256; do tail -n +2 "$out/large_${mib}m.csv"; done
} > "$out/large.csv"
rm -f "$out"/large_{16,64,256}m.csv
echo "CSV: $out/large.csv"
command -v gnuplot >/dev/null || { echo "gnuplot is not installed (apt-get install gnuplot-nox): no plots"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
modes=$(awk -F, 'NR > 1 { print $2 }' "$out/large.csv" | sort -u)
for rate in 100 1000; do
    plots= tplots=
    for m in $modes; do
        awk -F, -v r=$rate -v m="$m" 'NR > 1 && $3 == r && $2 == m' "$out/large.csv" > "$tmp/$m-$rate.csv"
        plots="$plots \"$tmp/$m-$rate.csv\" using 1:5 with linespoints title \"$m\","
        tplots="$tplots \"$tmp/$m-$rate.csv\" using 1:6 with linespoints title \"$m\","
    done
    awk -F, -v r=$rate 'NR > 1 && $3 == r' "$out/large.csv" | sort -t, -k1,1n -u > "$tmp/floor-$rate.csv"
    gnuplot <<GP
set datafile separator ","
set terminal pngcairo size 900,540 noenhanced
set logscale xy 2; set grid; set key left top
set xlabel "container heap (MiB)"; set xtics (16, 64, 256); set xrange [12:340]
set output "$out/large_downtime_$rate.png"
set title "Downtime vs container size, writing $rate MiB/s (POSIX port, 2 nodes)"
set ylabel "downtime (us, median)"
plot $plots "$tmp/floor-$rate.csv" using 1:12 with linespoints dt 2 title "memcpy of the heap"
set output "$out/large_total_$rate.png"
set title "Total migration time vs container size, writing $rate MiB/s"
set ylabel "request -> end (us, median; post-copy: last page in)"
plot $tplots "$tmp/floor-$rate.csv" using 1:12 with linespoints dt 2 title "memcpy of the heap"
GP
done
echo "plots: $out/large_downtime_100.png $out/large_downtime_1000.png $out/large_total_100.png $out/large_total_1000.png"
