#!/usr/bin/env bash
# `kiln run ARTIFACT` and `kiln bench` (libkilnrt through the command line):
# an artifact runs with its metadata's names and shapes and agrees with
# `kiln run MODEL`; file weights are found next to the artifact; errors exit 1 or
# 2 with a message; bench prints its report in the documented format, ending
# with `median_ms: X`. No timing is asserted.
# usage: cli_runtime_test.sh KILN REPO_ROOT
set -u
KILN="$1"
ROOT="$2"
cd "$ROOT"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect_rc() {
  local want="$1"; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want: $(head -c 400 "$tmp/err")"
}

expect_rc 0 "$KILN" compile examples/mlp.kir -o "$tmp/libmlp.so"
expect_rc 0 "$KILN" compile examples/mlp.kir -o "$tmp/mlpw.so" --weights=file
mkdir -p "$tmp/w"
expect_rc 0 "$KILN" compile examples/mlp.kir -o "$tmp/w/other.so" --name renamed --weights=file

# --- kiln run ARTIFACT: the summary line of the model compiled by `kiln run`
# (the same code; the interpreter may differ in the last digit)
expect_rc 0 "$KILN" run examples/mlp.kir --random-inputs --output-dir "$tmp/ref"
want="$(cat "$tmp/out")"
expect_rc 0 "$KILN" run "$tmp/libmlp.so" --random-inputs --output-dir "$tmp/got"
[ "$(cat "$tmp/out")" = "$want" ] || fail "artifact run: '$(cat "$tmp/out")' != '$want'"
[ -f "$tmp/got/y.npy" ] || fail "no y.npy from the artifact run"
# inputs from files, by the metadata's names, checked against its shapes
expect_rc 0 "$KILN" run examples/mlp.kir --random-inputs --seed 3
want3="$(cat "$tmp/out")"
printf 'graph gen {\n  input %%x: f32[1,33]\n  %%y = neg(%%x)\n  output %%y\n}\n' >"$tmp/gen.kir"
expect_rc 0 "$KILN" run "$tmp/gen.kir" --random-inputs --interp --output-dir "$tmp/gen"
expect_rc 0 "$KILN" run examples/mlp.kir --input "x=$tmp/gen/y.npy"
want_file="$(cat "$tmp/out")"
expect_rc 0 "$KILN" run "$tmp/libmlp.so" --input "x=$tmp/gen/y.npy"
[ "$(cat "$tmp/out")" = "$want_file" ] || fail "--input run: '$(cat "$tmp/out")' != '$want_file'"
expect_rc 1 "$KILN" run "$tmp/libmlp.so" --input "x=$tmp/ref/y.npy"
grep -q "input 'x' must be f32\[1,33\]" "$tmp/err" || fail "shape mismatch message: $(cat "$tmp/err")"
expect_rc 0 "$KILN" run "$tmp/libmlp.so" --random-inputs --seed 3
[ "$(cat "$tmp/out")" = "$want3" ] || fail "seed 3: '$(cat "$tmp/out")' != '$want3'"
# weights in a file: NAME.weights next to the artifact, or --weights
expect_rc 0 "$KILN" run "$tmp/mlpw.so" --random-inputs
[ "$(cat "$tmp/out")" = "$want" ] || fail "file-weights run: '$(cat "$tmp/out")' != '$want'"
expect_rc 0 "$KILN" run "$tmp/w/other.so" --random-inputs
[ "$(cat "$tmp/out")" = "$want" ] || fail "renamed run: '$(cat "$tmp/out")'"
mv "$tmp/w/renamed.weights" "$tmp/moved.weights"
expect_rc 2 "$KILN" run "$tmp/w/other.so" --random-inputs
grep -q "give --weights FILE" "$tmp/err" || fail "missing weights message: $(cat "$tmp/err")"
expect_rc 0 "$KILN" run "$tmp/w/other.so" --random-inputs --weights "$tmp/moved.weights"
head -c 1000 "$tmp/moved.weights" >"$tmp/short.weights"
expect_rc 1 "$KILN" run "$tmp/w/other.so" --random-inputs --weights "$tmp/short.weights"
grep -q "short.weights" "$tmp/err" || fail "bad weights message: $(cat "$tmp/err")"
# misuse and errors
expect_rc 2 "$KILN" run "$tmp/libmlp.so"
grep -q "no value for input 'x'" "$tmp/err" || fail "missing input message: $(cat "$tmp/err")"
expect_rc 2 "$KILN" run "$tmp/libmlp.so" --input "nope=$tmp/ref/y.npy"
grep -q "no input 'nope'" "$tmp/err" || fail "unknown input message: $(cat "$tmp/err")"
expect_rc 2 "$KILN" run "$tmp/libmlp.so" --random-inputs -O1
expect_rc 2 "$KILN" run "$tmp/libmlp.so" --random-inputs --interp
expect_rc 2 "$KILN" run examples/mlp.kir --random-inputs --weights x.weights
expect_rc 1 "$KILN" run "$tmp/libmlp.so" --random-inputs --name nope
grep -q "no kiln artifact named 'nope'" "$tmp/err" || fail "wrong name message: $(cat "$tmp/err")"
printf '\177ELF not really' >"$tmp/fake.so"
expect_rc 1 "$KILN" run "$tmp/fake.so" --random-inputs
grep -q "fake.so" "$tmp/err" || fail "bad artifact message: $(cat "$tmp/err")"

# --- kiln bench: the report's format (values are not checked, only their form)
num='[0-9]+\.[0-9]+'
check_bench() {
  local out="$1"
  for key in min_ms mean_ms max_ms median_ms; do
    grep -Eq "^$key: $num\$" "$out" || fail "bench: no '$key: X' line in: $(cat "$out")"
  done
  tail -n 1 "$out" | grep -Eq "^median_ms: $num\$" || fail "bench: last line is '$(tail -n 1 "$out")'"
  grep -q "^iterations: $2\$" "$out" || fail "bench: iterations line in: $(cat "$out")"
  grep -q "^warmup: $3\$" "$out" || fail "bench: warmup line in: $(cat "$out")"
  # the statistics of one sorted sample are ordered whatever the timings
  awk '/^min_ms:/{a=$2} /^median_ms:/{b=$2} /^max_ms:/{c=$2} END{exit !(a<=b && b<=c)}' "$out" ||
    fail "bench: min <= median <= max does not hold: $(cat "$out")"
}
expect_rc 0 "$KILN" bench "$tmp/libmlp.so" --iters 5 --warmup 1
check_bench "$tmp/out" 5 1
grep -q "^input: x f32\[1,33\]$" "$tmp/out" || fail "bench input line: $(cat "$tmp/out")"
expect_rc 0 "$KILN" bench examples/mlp.kir --iters 4 --warmup 0 -O1
check_bench "$tmp/out" 4 0
expect_rc 0 "$KILN" bench "$tmp/mlpw.so" --iters=3 --warmup=2 --threads 2
check_bench "$tmp/out" 3 2
# mlp has no parallel kernel: one thread in effect, and a note says why
grep -q "^threads: 1$" "$tmp/out" || fail "bench threads line: $(cat "$tmp/out")"
grep -q "no parallel kernels" "$tmp/err" || fail "--threads note: $(cat "$tmp/err")"
expect_rc 0 "$KILN" bench --help
grep -q "usage: kiln bench" "$tmp/out" || fail "kiln bench --help"
expect_rc 0 "$KILN" --help
grep -q "bench MODEL|ARTIFACT" "$tmp/out" || fail "kiln --help lacks bench"
expect_rc 2 "$KILN" bench
expect_rc 2 "$KILN" bench "$tmp/libmlp.so" --iters 0
expect_rc 2 "$KILN" bench "$tmp/libmlp.so" --iters abc
expect_rc 2 "$KILN" bench "$tmp/libmlp.so" --warmup -1
expect_rc 2 "$KILN" bench "$tmp/libmlp.so" --threads 0
expect_rc 2 "$KILN" bench "$tmp/libmlp.so" --bogus
expect_rc 2 "$KILN" bench "$tmp/libmlp.so" -O3
expect_rc 1 "$KILN" bench /nonexistent/model.so

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all runtime CLI checks passed"
