#!/usr/bin/env bash
# Command-line behaviour of `kiln`: help, version, exit codes for bad use,
# the inspect/run/ir acceptance checks of the README, and the .kir round trip
# over every .kir file in the repository.
# usage: cli_test.sh KILN REPO_ROOT
set -u
KILN="$1"
ROOT="$2"
cd "$ROOT"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_rc RC CMD...: the command exits with RC
expect_rc() {
  local want="$1"; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want: $(head -c 400 "$tmp/err")"
}

# --- help, version, usage errors (exit 2 with a message)
expect_rc 0 "$KILN" --help
grep -q "usage: kiln COMMAND" "$tmp/out" || fail "--help has no usage line"
expect_rc 0 "$KILN" --version
grep -Eq "^kiln [0-9]+\.[0-9]+\.[0-9]+" "$tmp/out" || fail "--version output: $(cat "$tmp/out")"
for cmd in ir run inspect; do
  expect_rc 0 "$KILN" "$cmd" --help
  grep -q "usage: kiln $cmd" "$tmp/out" || fail "kiln $cmd --help has no usage line"
done
expect_rc 2 "$KILN"
expect_rc 2 "$KILN" frobnicate
grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "unknown command message"
expect_rc 2 "$KILN" --bogus
expect_rc 2 "$KILN" ir examples/mlp.kir --bogus
grep -q "unknown option '--bogus'" "$tmp/err" || fail "unknown option message"
expect_rc 2 "$KILN" ir examples/mlp.kir -O7
expect_rc 2 "$KILN" ir
grep -q "missing MODEL" "$tmp/err" || fail "missing model message"
expect_rc 2 "$KILN" ir examples/mlp.kir --passes
expect_rc 2 "$KILN" ir examples/mlp.kir --passes=infer-shapes,no-such-pass
grep -q "no-such-pass" "$tmp/err" || fail "unknown pass not named"
expect_rc 2 "$KILN" run examples/mlp.kir --seed abc
expect_rc 2 "$KILN" run examples/mlp.kir --input x
expect_rc 2 "$KILN" run examples/mlp.kir --shape x=1xq
expect_rc 2 "$KILN" run examples/mlp.kir
grep -q "no value for input 'x'" "$tmp/err" || fail "missing input message"
expect_rc 2 "$KILN" run examples/mlp.kir --input nope=x.npy --random-inputs
expect_rc 1 "$KILN" ir /nonexistent/model.kir
grep -q "/nonexistent/model.kir" "$tmp/err" || fail "missing file not named"

# a malformed model names the file, line and column
printf 'graph g {\n  input %%x: f32[2]\n  %%y = relu(%%q)\n  output %%y\n}\n' >"$tmp/bad.kir"
expect_rc 1 "$KILN" ir "$tmp/bad.kir"
grep -q "bad.kir:3:" "$tmp/err" || fail "parse error lacks file:line: $(cat "$tmp/err")"

# --- inspect
expect_rc 0 "$KILN" inspect examples/mlp.kir
grep -qx "parameters: 22538" "$tmp/out" || fail "mlp parameters: $(grep parameters "$tmp/out")"
expect_rc 0 "$KILN" inspect examples/mlp.kir --json
grep -q '"parameters": 22538' "$tmp/out" || fail "inspect --json parameters"

# --- run writes one .npy per output
expect_rc 0 "$KILN" run examples/mlp.kir --random-inputs --output-dir "$tmp/run" --interp
[ -f "$tmp/run/y.npy" ] || fail "run did not write y.npy"
head -c 6 "$tmp/run/y.npy" | od -c | grep -q "N   U   M   P   Y" || fail "y.npy is not a .npy file"
grep -q "^y: f32\[1,10\] min=" "$tmp/out" || fail "run summary line: $(cat "$tmp/out")"
# the written output feeds back in (npy round trip through the CLI)
printf 'graph id {\n  input %%y: f32[1,10]\n  %%z = neg(%%y)\n  output %%z\n}\n' >"$tmp/id.kir"
expect_rc 0 "$KILN" run "$tmp/id.kir" --input y="$tmp/run/y.npy" --interp
# deterministic random inputs
"$KILN" run examples/mlp.kir --random-inputs --interp >"$tmp/r1" 2>&1
"$KILN" run examples/mlp.kir --random-inputs --interp >"$tmp/r2" 2>&1
cmp -s "$tmp/r1" "$tmp/r2" || fail "--random-inputs is not deterministic"

# --- dumps: one parsable .kir per pass of the -O2 pipeline
expect_rc 0 "$KILN" ir examples/mlp.kir -O2 --dump-after=all --dump-dir "$tmp/dump"
npasses=$("$KILN" ir examples/mlp.kir -O2 --print-pipeline | tr ',' '\n' | grep -c .)
ndumps=$(ls "$tmp/dump"/*.kir | wc -l)
[ "$npasses" -eq "$ndumps" ] || fail "$ndumps dumps for $npasses passes"
for f in "$tmp/dump"/*.kir; do
  "$KILN" ir "$f" --passes= >/dev/null 2>"$tmp/err" || fail "dump $f does not parse: $(cat "$tmp/err")"
done

# --- round trip: for every .kir in the repo, `kiln ir FILE --passes=` parses
# back and prints identically
n=0
while IFS= read -r f; do
  case "$f" in *.invalid.kir | */corpus/*) continue ;; esac
  grep -q "^# EXPECT: error" "$f" && continue
  n=$((n + 1))
  if ! "$KILN" ir "$f" --passes= >"$tmp/a.kir" 2>"$tmp/err"; then
    fail "round trip: $f does not load: $(head -c 300 "$tmp/err")"
    continue
  fi
  "$KILN" ir "$tmp/a.kir" --passes= >"$tmp/b.kir" 2>"$tmp/err" || { fail "round trip: reprint of $f does not parse: $(head -c 300 "$tmp/err")"; continue; }
  cmp -s "$tmp/a.kir" "$tmp/b.kir" || fail "round trip: $f prints differently after parsing back"
done < <(git ls-files '*.kir' 2>/dev/null || find . -name '*.kir' -not -path './build*')
[ "$n" -gt 3 ] || fail "round trip found only $n .kir files"

if [ "$fails" -ne 0 ]; then
  echo "$fails CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed ($n .kir files round-tripped)"
