#!/usr/bin/env bash
# Runs the test suite on a fresh Debian/Ubuntu machine: checks the .NET SDK, builds, tests.
# Extra arguments go to `dotnet test` (e.g. --filter Category=Unit). Category Container only runs when a --filter selects it.
# Prints one closing line "N passed, N failed, N skipped" from the trx files' Counters. The trx logger leaves
# notExecuted at 0 for xunit's skipped tests and counts them only in total, not in executed: skipped = total - executed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source deploy/lib/ensure-dotnet.sh
ensure_dotnet

# Category Container (deploy/containers-test.sh: installs podman, builds images, runs a cluster of containers; root,
# ~5 min) runs only when asked for: tests/run.sh --filter Category=Container. Without a --filter of the caller's,
# every other category runs.
filter=()
case " $* " in
  *" --filter "*|*" --filter="*) ;;
  *) filter=(--filter "Category!=Container") ;;
esac

results="$root/TestResults"
rm -rf "$results"
set +e
dotnet test P2PDistill.sln -c Release --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" "${filter[@]}" "$@"
status=$?
set -e

passed=0; failed=0; skipped=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${t:-0} - ${e:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # Build failure or crashed test host: count it as a failure so the line never hides it.
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
