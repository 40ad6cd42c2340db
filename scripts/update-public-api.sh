#!/usr/bin/env bash
# Regenerates src/Tether/PublicAPI.Unshipped.txt after public API was added or removed (works offline).
#
# How: `dotnet format analyzers` runs the PublicApiAnalyzers' own code fixes (already in the restored package) over
# the project: RS0016 ("Symbol 'X' is not part of the declared public API") adds the exact API line to
# PublicAPI.Unshipped.txt; RS0017 ("... is part of the declared API, but is either not public or could not be found")
# removes a line that no longer matches. Unshipped is re-sorted and keeps its '#nullable enable' header.
# PublicAPI.Shipped.txt is never touched: moving lines from Unshipped to Shipped is a release decision.
#
# Usage: scripts/update-public-api.sh [project.csproj]   (default src/Tether/Tether.csproj)
# Then: `dotnet build <project>` must be free of RS00xx errors; review `git diff -- '*PublicAPI*'` like any API change.
set -euo pipefail
cd "$(dirname "$0")/.."
project="${1:-src/Tether/Tether.csproj}"
dir="$(dirname "$project")"
unshipped="$dir/PublicAPI.Unshipped.txt"
[ -f "$dir/PublicAPI.Shipped.txt" ] || printf '#nullable enable\n' > "$dir/PublicAPI.Shipped.txt"
[ -f "$unshipped" ] || printf '#nullable enable\n' > "$unshipped"

before="$(wc -l < "$unshipped")"
dotnet restore "$project" -v q >/dev/null
# Regenerate from scratch: empty Unshipped (stale lines vanish), then the RS0016 fix-all writes every public symbol
# that Shipped does not declare. (Measured here: the incremental fix on a non-empty file did not always apply.)
printf '#nullable enable\n' > "$unshipped"
dotnet format analyzers "$project" --no-restore --diagnostics RS0016 --severity warn -v q || true

body="$(grep -v '^#nullable enable$' "$unshipped" | grep -v '^[[:space:]]*$' | LC_ALL=C sort -u || true)"
{ echo '#nullable enable'; [ -n "$body" ] && printf '%s\n' "$body"; } > "$unshipped"
echo "update-public-api: $unshipped now has $(($(wc -l < "$unshipped") - 1)) entries (was $((before - 1)))."

# Verify: the build must report no public-API diagnostic any more.
if dotnet build "$project" --no-restore --no-incremental -nologo -v q -clp:NoSummary 2>&1 | grep -E "error RS00(16|17|25|26|27|36|37)" | sort -u | head -20 | grep .; then
  echo "update-public-api: the build still reports public-API errors (above); fix them by hand or in the IDE (RS0016 code fix)." >&2
  exit 1
fi
echo "update-public-api: build is clean of public-API errors."
