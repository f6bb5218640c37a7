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

# --- inspect --dot / --svg: Graphviz drawing of the -O2 graph
# a fused kernel (matmul, bias add, relu) with hostile names: a quote, a
# backslash, a newline, an entity, invalid UTF-8 and non-ASCII
cat >"$tmp/hostile.kir" <<'KIR'
graph "hostile \"g\"" {
  input %"x\"in\\put\n&lt;": f32[2,8]
  param %w: f32[8,16] = uniform(seed=1)
  param %"b\xff é": f32[16] = uniform(seed=2)
  %h = matmul(%"x\"in\\put\n&lt;", %w) @"mm \\N"
  %hb = add(%h, %"b\xff é")
  %y = relu(%hb)
  output %y
}
KIR
expect_rc 0 "$KILN" inspect "$tmp/hostile.kir" --dot "$tmp/h.dot"
grep -qx "parameters: 144" "$tmp/out" || fail "inspect --dot changed the report"
# the cluster holds the three fused ops
awk '/^  subgraph cluster_/{c=1} c{print} c&&/^  }/{exit}' "$tmp/h.dot" >"$tmp/cluster"
grep -q 'label="fused (contraction)' "$tmp/cluster" || fail "--dot: no fused cluster: $(cat "$tmp/h.dot")"
for op in matmul add relu; do
  grep -q "label=\"$op" "$tmp/cluster" || fail "--dot: $op is not inside the fused cluster"
done
grep -q -- '-> n0_n1 \[label="f32\[2,16\]"\]' "$tmp/h.dot" || fail "--dot: no typed edge label"
grep -qF 'label="input\nx\"in\\put\\n&amp;lt;\nf32[2,8]"' "$tmp/h.dot" || fail "--dot: input name not escaped"
grep -qF 'label="matmul\nmm \\N"' "$tmp/h.dot" || fail "--dot: node name not escaped"
grep -qF 'label="b\\xff é\nf32[16]"' "$tmp/h.dot" || fail "--dot: constant name not escaped"
"$KILN" inspect "$tmp/hostile.kir" --dot "$tmp/h2.dot" >/dev/null 2>&1
cmp -s "$tmp/h.dot" "$tmp/h2.dot" || fail "--dot is not deterministic"
# with --json, --memory and pipeline flags
expect_rc 0 "$KILN" inspect examples/cnn.kir --json --memory -O1 --dot "$tmp/o1.dot"
grep -q '"memory_plan"' "$tmp/out" || fail "--dot --json --memory: no memory plan"
grep -q 'subgraph cluster_' "$tmp/o1.dot" && fail "-O1 --dot drew a fused cluster"
grep -q 'label="conv' "$tmp/o1.dot" || fail "-O1 --dot lacks the conv"
# errors: an unwritable path, a missing value
expect_rc 1 "$KILN" inspect examples/mlp.kir --dot /nonexistent/dir/g.dot
grep -q "/nonexistent/dir/g.dot: cannot create" "$tmp/err" || fail "--dot to an unwritable path: $(cat "$tmp/err")"
expect_rc 1 "$KILN" inspect examples/mlp.kir --svg /nonexistent/dir/g.svg
expect_rc 2 "$KILN" inspect examples/mlp.kir --dot
# --svg without Graphviz: exit 1 naming the missing program
mkdir -p "$tmp/nobin"
expect_rc 1 env PATH="$tmp/nobin" "$KILN" inspect examples/mlp.kir --svg "$tmp/none.svg"
grep -q "'dot'" "$tmp/err" || fail "--svg without dot: $(cat "$tmp/err")"
[ -e "$tmp/none.svg" ] && fail "--svg without dot wrote a file"
# --svg runs `dot -Tsvg` found on PATH, without a shell, the DOT on its
# standard input (a stand-in dot checks that); a failing dot's output is
# removed
mkdir -p "$tmp/fakebin"
printf '#!/bin/sh\n[ "$#" -eq 1 ] && [ "$1" = "-Tsvg" ] || exit 9\ngrep -q "^digraph kiln {" || exit 8\necho "<svg>fake</svg>"\n' >"$tmp/fakebin/dot"
chmod +x "$tmp/fakebin/dot"
expect_rc 0 env PATH="$tmp/fakebin:$PATH" "$KILN" inspect examples/mlp.kir --svg "$tmp/fake.svg"
grep -q "<svg>fake</svg>" "$tmp/fake.svg" 2>/dev/null || fail "--svg did not run dot from PATH: $(cat "$tmp/err")"
printf '#!/bin/sh\ncat >/dev/null\necho broken >&2\nexit 3\n' >"$tmp/fakebin/dot"
expect_rc 1 env PATH="$tmp/fakebin:$PATH" "$KILN" inspect examples/mlp.kir --svg "$tmp/bad.svg"
grep -q "exit status 3" "$tmp/err" || fail "failing dot: $(cat "$tmp/err")"
[ -e "$tmp/bad.svg" ] && fail "failing dot left its output"
# with Graphviz installed: the DOT parses and --svg renders
if command -v dot >/dev/null 2>&1; then
  for f in "$tmp/h.dot" "$tmp/o1.dot"; do
    dot -Tsvg "$f" >"$tmp/r.svg" 2>"$tmp/err" || fail "dot -Tsvg rejects $f: $(cat "$tmp/err")"
    [ -s "$tmp/err" ] && fail "dot -Tsvg warns on $f: $(cat "$tmp/err")"
  done
  expect_rc 0 "$KILN" inspect tests/golden/fuse_contraction.kir --dot "$tmp/c.dot" --svg "$tmp/c.svg"
  grep -q "<svg" "$tmp/c.svg" || fail "--svg wrote no SVG"
  grep -q "fused (contraction)" "$tmp/c.svg" || fail "--svg lacks the cluster label"
else
  echo "note: Graphviz 'dot' is not installed; skipping the dot -Tsvg checks"
fi

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

# --- threads: compiled runs give the same bytes on 1, 2 and 3 threads of a
# model whose conv and matmul split into tasks; bench reports the count in effect
cat >"$tmp/par.kir" <<'EOF'
graph par {
  input %x: f32[1,32,28,28]
  input %a: f32[64,48]
  param %w: f32[32,32,3,3] = kaiming_uniform(seed=3)
  param %b: f32[32] = zeros
  param %m: f32[48,96] = xavier_uniform(seed=4)
  %c = conv(%x, %w, %b) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]}
  %r = relu(%c)
  %y = matmul(%a, %m)
  output %r, %y
}
EOF
expect_rc 0 "$KILN" compile "$tmp/par.kir" -o "$tmp/libpar.so"
for t in 1 2 3; do
  expect_rc 0 "$KILN" run "$tmp/par.kir" --random-inputs --threads "$t" --output-dir "$tmp/par$t"
  expect_rc 0 "$KILN" run "$tmp/libpar.so" --random-inputs --threads="$t" --output-dir "$tmp/parso$t"
done
for f in r y; do
  for d in par2 par3 parso1 parso2 parso3; do
    cmp -s "$tmp/par1/$f.npy" "$tmp/$d/$f.npy" || fail "--threads: $d/$f.npy differs from par1/$f.npy"
  done
done
expect_rc 0 "$KILN" bench "$tmp/libpar.so" --iters 2 --warmup 1 --threads 2
grep -q "^threads: 2$" "$tmp/out" || fail "bench --threads 2: $(grep threads "$tmp/out")"
expect_rc 0 "$KILN" bench "$tmp/par.kir" --iters 2 --warmup 0 --threads 3
grep -q "^threads: 3$" "$tmp/out" || fail "bench MODEL --threads 3: $(grep threads "$tmp/out")"
# the default: $KILN_NUM_THREADS, else the online CPUs (at most 64)
expect_rc 0 env KILN_NUM_THREADS=3 "$KILN" bench "$tmp/libpar.so" --iters 2 --warmup 0
grep -q "^threads: 3$" "$tmp/out" || fail "bench with KILN_NUM_THREADS=3: $(grep threads "$tmp/out")"
ncpu=$(getconf _NPROCESSORS_ONLN); [ "$ncpu" -gt 64 ] && ncpu=64
expect_rc 0 env -u KILN_NUM_THREADS "$KILN" bench "$tmp/libpar.so" --iters 2 --warmup 0
grep -q "^threads: $ncpu$" "$tmp/out" || fail "bench default threads ($ncpu CPUs): $(grep threads "$tmp/out")"
expect_rc 0 "$KILN" bench "$tmp/libpar.so" --iters 2 --warmup 0 --threads 100
grep -q "^threads: 64$" "$tmp/out" || fail "bench --threads 100: $(grep threads "$tmp/out")"
grep -q "at most 64 threads" "$tmp/err" || fail "bench --threads 100 note: $(cat "$tmp/err")"
# bad values and --interp: exit 2
for bad in 0 -1 abc 2x "" 1025; do
  expect_rc 2 "$KILN" bench "$tmp/libpar.so" --threads "$bad"
  grep -q -- "--threads" "$tmp/err" || fail "bench --threads '$bad' message: $(cat "$tmp/err")"
  expect_rc 2 "$KILN" run "$tmp/par.kir" --random-inputs --threads "$bad"
done
expect_rc 2 "$KILN" bench "$tmp/libpar.so" --threads
expect_rc 2 "$KILN" run "$tmp/par.kir" --random-inputs --interp --threads 2
grep -q "interp" "$tmp/err" || fail "run --interp --threads message: $(cat "$tmp/err")"
for cmd in run bench; do
  expect_rc 0 "$KILN" "$cmd" --help
  grep -q -- "--threads N" "$tmp/out" || fail "kiln $cmd --help lacks --threads"
done

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
