#!/usr/bin/env bash
# Re-fetch the back office's browser libraries from npm and copy their dist files and licences here.
# The files are committed: pages load nothing from the internet, and `pip install` needs no npm.
# Versions are pinned in package.json beside this script; change them there, run this, commit the result.
#
# Example:
#   backoffice/web/static/vendor/update.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$work/"
(cd "$work" && npm install --no-audit --no-fund --ignore-scripts --silent)
# package, file in the package, file here: the libraries' dist files and their licences.
files=(
    "htmx.org dist/htmx.min.js htmx.min.js"
    "htmx.org LICENSE LICENSE-htmx.txt"
    "htmx-ext-sse dist/sse.min.js htmx-ext-sse.min.js"
    "htmx-ext-sse LICENSE LICENSE-htmx-ext-sse.txt"
    "chart.js dist/chart.umd.min.js chart.umd.min.js"
    "chart.js LICENSE.md LICENSE-chart.js.txt"
)
{
    echo "# Vendored browser libraries (written by update.sh from package.json; do not edit)"
    echo
    echo "| package | version | file here | from |"
    echo "| --- | --- | --- | --- |"
} >"$here/VERSIONS.md"
for entry in "${files[@]}"; do
    read -r pkg src dst <<<"$entry"
    cp "$work/node_modules/$pkg/$src" "$here/$dst"
    version="$(node -p "require('$work/node_modules/$pkg/package.json').version")"
    echo "| $pkg | $version | $dst | $src |" >>"$here/VERSIONS.md"
done
echo "vendor files updated in $here"
