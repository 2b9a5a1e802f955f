#!/usr/bin/env bash
# .clang-tidy's checks over the C++ sources (tests left out: their cases are
# long by nature). Needs a configured build (compile_commands.json).
#   tidy.sh            every source file of libs/, services/, tools/, bench/
#   tidy.sh FILE...    just these
# Exit 1 when a check fires in this repository's code; the findings are
# printed. Findings whose place is a system header (Boost, RapidJSON) are left
# out: the analyzer follows our calls into them and reports their internals.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build="${BUILD_DIR:-build}"
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy missing: run 'make deps'" >&2; exit 1; }
[ -f "$build/compile_commands.json" ] || { echo "tidy: no $build/compile_commands.json: run 'make configure'" >&2; exit 1; }
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'libs/*.cpp' 'services/*.cpp' 'tools/*.cpp' 'bench/*.cpp' | grep -v '/tests/')
fi
# Debian's clang 14 does not announce C++20 coroutines to libstdc++ 12 and
# Boost.Asio 1.74, so the HTTP code's awaitables would not parse without these.
coroutines=(--extra-arg=-D__cpp_impl_coroutine=201902L --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT
            --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "tidy: ${#files[@]} files, $(nproc) at a time"
printf '%s\0' "${files[@]}" |
  xargs -0 -n 1 -P "$(nproc)" clang-tidy -p "$build" --quiet "${coroutines[@]}" >"$out" 2>/dev/null || true
findings=$(grep -E "^($root/)?(libs|services|tools|bench)/[^:]+:[0-9]+:[0-9]+: (warning|error):" "$out" | sort -u || true)
if [ -n "$findings" ]; then
  echo "$findings" >&2
  echo "tidy: $(echo "$findings" | wc -l) findings (.clang-tidy lists the checks; the full output: rerun with a file)" >&2
  exit 1
fi
echo "tidy: clean"
