#!/usr/bin/env bash
# kiln compile's progress line (tools/progress.h): drawn by phase on a
# terminal, erased at the end, and never written when stderr is not a
# terminal.   progress_test.sh KILN SOURCE_DIR
set -euo pipefail
kiln="$1"
cd "$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# not a terminal: stderr stays empty
"$kiln" compile examples/cnn.kir -o "$tmp/m.so" 2>"$tmp/err"
[ ! -s "$tmp/err" ] || fail "stderr not a terminal, yet written: $(cat -v "$tmp/err")"

mkdir "$tmp/t"
# a terminal (script(1) gives the command a pty); no delay so every phase shows
if ! command -v script >/dev/null; then
  echo "skip: script(1) not installed"
  exit 0
fi
KILN_PROGRESS_DELAY_MS=0 TERM=xterm script -qec \
  "'$kiln' compile examples/cnn.kir -o '$tmp/t/m.so' --emit=so" "$tmp/tty.log" >/dev/null
log="$(tr '\r' '\n' <"$tmp/tty.log")"
printf '%s\n' "$log" | grep -q "kiln: compiling examples/cnn.kir: \[[0-9]/8\]" ||
  fail "no progress line on a terminal: $(cat -v "$tmp/tty.log" | head -c 400)"
# the line does not stay: an erase sequence follows the last line drawn
# (script(1) may append its own trailer to the log)
rest="$(awk 'BEGIN { RS = "\033\\[K" } { last = $0 } END { printf "%s", last }' "$tmp/tty.log")"
case "$rest" in
  *"kiln: compiling"*) fail "the progress line was not erased" ;;
esac
[ -s "$tmp/t/m.so" ] || fail "no artifact written"
cmp -s "$tmp/m.so" "$tmp/t/m.so" || fail "the artifact differs with a progress line"
echo "ok"
