#!/usr/bin/env bash
# bench/mpi/run.sh [build dir] [migrations] [rounds]: the papers' workload
# migrating between two nodes over the shared-memory NoC (forked nodes) and
# over MPI (mpirun -np 2, a node per rank), round after round, so that both
# transports meet the same machine load; then the MPI transport against MPI
# itself (bench_noc_mpi). Prints every row and the median ratios MPI / shm.
set -euo pipefail
build=${1:-build/dev}
n=${2:-41}
rounds=${3:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
b=$build/bench/mpi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
    "$b/bench_migrate_mpi" "$n" | tee -a "$out"
    mpirun -np 2 "$b/bench_migrate_mpi" "$n" | tee -a "$out"
done
echo
echo "medians over $rounds rounds (MPI / shm):"
awk '$1 == "shm" || $1 == "mpi" { k = $1 " " $2; dt[k] = dt[k] " " $4; c[k] = c[k] " " $6 }
     function med(s,   a, n, i, j, t) { n = split(s, a, " ");
         for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
         return a[int((n + 1) / 2)] }
     END { split("stop-and-copy pre-copy", m, " ");
         for (i = 1; i <= 2; i++) {
             s = "shm " m[i]; p = "mpi " m[i];
             printf "  %-14s downtime %8.1f us shm, %8.1f us mpi (%.2fx); call-to-return %8.1f us shm, %8.1f us mpi (%.2fx)\n",
                 m[i], med(dt[s]), med(dt[p]), med(dt[p]) / med(dt[s]), med(c[s]), med(c[p]), med(c[p]) / med(c[s]) } }' "$out"
echo
mpirun -np 2 "$b/bench_noc_mpi"
