#!/usr/bin/env bash
# CLI-12: pack src/Tether.Cli as a dotnet tool, install it from the local folder into a temporary tool path,
# and check that the installed `tether --version` prints the library version. Touches nothing outside a temp dir.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props" | head -1)"
dotnet pack "$root/src/Tether.Cli" -o "$work/nupkg" --nologo -v quiet
ls "$work"/nupkg/Tether.Cli."$version".nupkg >/dev/null
dotnet tool install --tool-path "$work/tools" --add-source "$work/nupkg" Tether.Cli --version "$version" >/dev/null
printed="$("$work/tools/tether" --version)"
if [[ "$printed" != "$version" ]]; then
  echo "verify-tool: tether --version printed '$printed', expected '$version'" >&2
  exit 1
fi
"$work/tools/tether" --help | grep -q "Examples:"
echo "verify-tool: ok, installed tether --version = $printed"
