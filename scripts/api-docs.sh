#!/usr/bin/env bash
# Generates the API reference (DocFX) from the XML doc comments into artifacts/api-site/ (git-ignored).
# DocFX comes from the repo's tool manifest (dotnet-tools.json), restored from NuGet like any package.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet tool restore
dotnet docfx docs/api/docfx.json "$@"
echo "api-docs: open artifacts/api-site/index.html"
