#!/usr/bin/env bash
# Run every benchmark in this directory, one after the other; extra arguments (--quick,
# --no-peer) go to each. Use Arno's interpreter: `. .venv/bin/activate && bench/run_all.sh`
# (or set PYTHON).
set -uo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"
first=(bench_ingest.py bench_report_call.py bench_history.py bench_tasks.py bench_idle.py
       bench_durability.py)
scripts=("${first[@]}")
for script in bench_*.py; do
    [[ " ${first[*]} " == *" $script "* || $script == bench_load.py ]] || scripts+=("$script")
done
status=0
for script in "${scripts[@]}"; do
    echo "== ${script%.py}"
    "$PYTHON" "$script" "$@" || { echo "!! $script failed"; status=1; }
done
# The load benchmark on SQLite, then again on PostgreSQL.
echo "== bench_load --postgres"
"$PYTHON" bench_load.py --postgres "$@" || { echo "!! bench_load.py failed"; status=1; }
# The dataset benchmark again on S3 (a moto server) and with our server on PostgreSQL.
for variant in --s3 --postgres; do
    echo "== bench_datasets $variant"
    "$PYTHON" bench_datasets.py "$variant" "$@" \
        || { echo "!! bench_datasets.py $variant failed"; status=1; }
done
exit $status
