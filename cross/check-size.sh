#!/usr/bin/env bash
# Fails when a cross-built binary exceeds its size budget in cross/size-budget.txt by more
# than 10%.
#
#   cross/check-size.sh BINARY TARGET PROFILE
#
# size-budget.txt has one line per target and profile: TARGET PROFILE BUDGET_BYTES
# MEASURED_BYTES DATE (the measurement the budget was set from). Budgets are for the default
# features; a build with fewer features is only smaller. Raise a budget deliberately, in the
# commit that explains the growth.
set -euo pipefail
bin=${1:?usage: cross/check-size.sh BINARY TARGET PROFILE}
target=${2:?usage: cross/check-size.sh BINARY TARGET PROFILE}
profile=${3:?usage: cross/check-size.sh BINARY TARGET PROFILE}
budgets="$(dirname "$0")/size-budget.txt"
[ -f "$bin" ] || { echo "check-size: $bin not found" >&2; exit 2; }
size=$(stat -c %s "$bin")
budget=$(awk -v t="$target" -v p="$profile" '$1 == t && $2 == p {print $3}' "$budgets")
[ -n "$budget" ] || { echo "check-size FAIL: no budget for $target $profile in $budgets (measured $size bytes)" >&2; exit 1; }
limit=$(( budget + budget / 10 ))
pct=$(( size * 100 / budget ))
if [ "$size" -gt "$limit" ]; then
  echo "check-size FAIL: $bin is $size bytes, ${pct}% of the $target $profile budget $budget (limit +10%: $limit)" >&2
  exit 1
fi
echo "check-size: $bin is $size bytes, ${pct}% of the $target $profile budget $budget (limit +10%: $limit): ok"
