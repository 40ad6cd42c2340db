#!/usr/bin/env bash
# Packs Tether, restores samples/AnalyzerConsumer from that package alone (fresh package cache, so no
# stale copy), builds it, and checks that the analyzers shipped in the package reported TETHER001.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

dotnet pack "$repo/src/Tether/Tether.csproj" -c Release -o "$work/feed" -v quiet -nologo
unzip -l "$work/feed"/Tether.*.nupkg | grep -q 'analyzers/dotnet/cs/Tether.Analyzers.dll' \
  || { echo "FAIL: Tether package has no analyzers/dotnet/cs/Tether.Analyzers.dll"; exit 1; }

dotnet build "$here/AnalyzerConsumer.csproj" -nologo \
  -p:RestoreAdditionalProjectSources="$work/feed" \
  -p:RestorePackagesPath="$work/packages" \
  -p:BaseIntermediateOutputPath="$work/obj/" -p:OutputPath="$work/bin/" \
  > "$work/build.log" 2>&1 || { cat "$work/build.log"; echo "FAIL: consumer build failed"; exit 1; }

if grep -q 'warning TETHER001' "$work/build.log"; then
  grep -m1 'warning TETHER001' "$work/build.log"
  echo "OK: the consumer project picked up the Tether analyzers from the package"
else
  cat "$work/build.log"
  echo "FAIL: no TETHER001 in the consumer build"
  exit 1
fi
