#!/usr/bin/env bash
# The house C++ style (.clang-format) over every tracked C++ file.
#   format.sh        rewrite the files that break it
#   format.sh check  list them and exit 1 (make test runs this as style.format)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format: clang-format missing: run 'make deps'" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
if [ "${1:-}" = check ]; then
  bad=()
  for f in "${files[@]}"; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'format: not in the house style (run make format):\n' >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files in the house style"
else
  clang-format -i "${files[@]}"
fi
