# Self-test of the conformance tooling, run with `cmake -P` (see
# CMakeLists.txt): the runner, `kiln run --onnx-test`, `.pb` inputs and the
# end-to-end model checker, on the fixtures of selftest/ (made by
# selftest/gen.py) whose outcomes are known. Each check names what it
# expected and shows the output when it fails.
#
# Variables: KILN, RUNNER, MODEL_TEST (executables), DIR (selftest/),
# OUT (a scratch directory).

set(DATA ${DIR}/data)

# run(NAME EXPECT_RC REGEX... COMMAND args...): runs the command, checks its
# exit status and that the combined output matches every regex.
function(run name want_rc)
  cmake_parse_arguments(R "" "" "MATCH;COMMAND" ${ARGN})
  execute_process(COMMAND ${R_COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  set(all "${out}${err}")
  if(NOT rc STREQUAL want_rc)
    message(FATAL_ERROR "${name}: exit status ${rc}, expected ${want_rc}; output:\n${all}")
  endif()
  foreach(re ${R_MATCH})
    if(NOT all MATCHES "${re}")
      message(FATAL_ERROR "${name}: output does not match '${re}'; output:\n${all}")
    endif()
  endforeach()
  message(STATUS "ok: ${name}")
endfunction()

# The runner: every class, the tolerance table, the light-model input rule,
# crash and hang containment, the regression check and the exit status.
set(ENV{KILN_CONFORMANCE_INJECT} "crash:node/test_crash,hang:node/test_hang")
file(COPY ${DIR}/expected_pass.txt DESTINATION ${OUT}/selftest)
run(runner 1
  MATCH "pass +light/light_tiny"
        "pass +node/test_pass"
        "pass +node/test_shape_input"
        "pass +node/test_tolerance"
        "fail +node/test_wrong [^\n]*1 of 6 elements differ, max abs 0.25"
        "unsupported +node/test_unsupported [^\n]*Frobnicate"
        "error +node/test_invalid [^\n]*parse error"
        "error +node/test_crash [^\n]*crashed"
        "error +node/test_hang [^\n]*timed out after 2 s"
        "REGRESSION node/test_wrong: now fail"
        "acceptance: 3 of 6 node tests"
        "FAILED: 3 tests ended in error"
        "FAILED: 1 tests of"
  COMMAND ${RUNNER} --data ${DATA} --core-ops ${DIR}/../core_ops.txt
          --expected ${OUT}/selftest/expected_pass.txt --tolerances ${DIR}/tolerances.txt
          --timeout 2 -v --doc ${OUT}/selftest/report.md)
# Rewriting the list accepts the regression, but errors still fail.
run(runner-update 1 MATCH "expected_pass.txt \\(4 tests\\)" "FAILED: 3 tests ended in error"
  COMMAND ${RUNNER} --data ${DATA} --core-ops ${DIR}/../core_ops.txt
          --expected ${OUT}/selftest/expected_pass.txt --tolerances ${DIR}/tolerances.txt
          --timeout 2 --update-expected)
file(READ ${OUT}/selftest/expected_pass.txt list)
string(REGEX REPLACE "#[^\n]*\n" "" list "${list}")
set(want "light/light_tiny\nnode/test_pass\nnode/test_shape_input\nnode/test_tolerance\n")
if(NOT list STREQUAL want)
  message(FATAL_ERROR "--update-expected wrote:\n${list}\nexpected:\n${want}")
endif()
file(READ ${OUT}/selftest/report.md report)
foreach(re "\\| node \\| 8 \\| 3 \\| 1 \\| 1 \\| 3 \\|" "Acceptance figure: 3 of 6"
           "\\| node/test_hang \\| timed out")
  if(NOT report MATCHES "${re}")
    message(FATAL_ERROR "report.md does not match '${re}':\n${report}")
  endif()
endforeach()
message(STATUS "ok: --update-expected and --doc")
unset(ENV{KILN_CONFORMANCE_INJECT})

# Without the fault injection and with an up-to-date list the runner passes
# except for the invalid model, which is an error on purpose.
run(runner-errors-fail-ci 1 MATCH "FAILED: 1 tests ended in error"
  COMMAND ${RUNNER} --data ${DATA} --core-ops ${DIR}/../core_ops.txt
          --expected ${OUT}/selftest/expected_pass.txt
          --tolerances ${DIR}/tolerances.txt --filter node/test_)
run(runner-clean 0 MATCH "acceptance: 1 of 1"
  COMMAND ${RUNNER} --data ${DATA} --core-ops ${DIR}/../core_ops.txt
          --expected ${OUT}/selftest/expected_pass.txt
          --tolerances ${DIR}/tolerances.txt --filter test_pass)

run(runner-compiled 0 MATCH "2 at a time, compiled" "pass +node/test_pass" "acceptance: 1 of 1"
  COMMAND ${RUNNER} --data ${DATA} --core-ops ${DIR}/../core_ops.txt
          --expected ${OUT}/selftest/expected_pass.txt --tolerances ${DIR}/tolerances.txt
          --filter test_pass --compiled -v)

# --suites: the other suites' entries of the list are not regressions
run(runner-suites 0 MATCH "kiln conformance: 1 tests under" "pass +light/light_tiny"
  COMMAND ${RUNNER} --data ${DATA} --core-ops ${DIR}/../core_ops.txt
          --expected ${OUT}/selftest/expected_pass.txt --tolerances ${DIR}/tolerances.txt
          --suites light -v)

# kiln run --onnx-test
run(onnx-test-pass 0 MATCH "compiled, rtol" "z: f32\\[2,3\\] max_abs=0 max_rel=0 ok" "PASS \\(1 data set\\)"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/test_pass)
run(onnx-test-interp 0 MATCH "interpreter, rtol" "z: f32\\[2,3\\] max_abs=0 max_rel=0 ok" "PASS"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/test_pass --interp)
run(onnx-test-bind 0 MATCH "input 'shape' decides a shape" "PASS"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/test_shape_input)
run(onnx-test-fail 1 MATCH "z: f32\\[2,3\\] max_abs=0.25 max_rel=1 FAIL \\(1 of 6" "\nFAIL"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/test_wrong)
run(onnx-test-default-rtol 1 MATCH "FAIL"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/test_tolerance)
run(onnx-test-rtol 0 MATCH "rtol 0.01" "PASS"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/test_tolerance --rtol 1e-2)
run(onnx-test-atol 0 MATCH "atol 0.1" "PASS"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/test_tolerance --atol 0.1)
run(onnx-test-unsupported 1 MATCH "Frobnicate" "FAIL \\(unsupported\\)"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/test_unsupported)
run(onnx-test-missing 1 MATCH "no-such-dir/model.onnx: cannot open"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/no-such-dir)
run(onnx-test-bad-rtol 2 MATCH "bad tolerance"
  COMMAND ${KILN} run --onnx-test ${DATA}/node/test_pass --rtol -1)
run(onnx-test-with-model 2 MATCH "either MODEL or --onnx-test"
  COMMAND ${KILN} run ${DATA}/node/test_pass/model.onnx --onnx-test ${DATA}/node/test_pass)
run(rtol-without-onnx-test 2 MATCH "need --onnx-test"
  COMMAND ${KILN} run ${DATA}/node/test_pass/model.onnx --rtol 1e-2)

# kiln run with TensorProto (.pb) inputs, and a bound shape input from .pb
set(T ${DATA}/node/test_pass/test_data_set_0)
run(pb-inputs 0 MATCH "z: f32\\[2,3\\] min="
  COMMAND ${KILN} run ${DATA}/node/test_pass/model.onnx --input x=${T}/input_0.pb
          --input y=${T}/input_1.pb)
set(S ${DATA}/node/test_shape_input/test_data_set_0)
run(pb-bind 0 MATCH "input 'shape' decides a shape" "out: f32\\[6,4\\]"
  COMMAND ${KILN} run ${DATA}/node/test_shape_input/model.onnx --input data=${S}/input_0.pb
          --input shape=${S}/input_1.pb)
run(pb-not-a-tensor 1 MATCH "model.onnx"
  COMMAND ${KILN} run ${DATA}/node/test_pass/model.onnx --input x=${DATA}/node/test_invalid/model.onnx
          --input y=${T}/input_1.pb)

# the end-to-end model checker must fail on a wrong reference
run(model-test-wrong 1 MATCH "output_0: f32\\[2,2\\] [^\n]*FAIL" "FAIL .*wrong"
  COMMAND ${MODEL_TEST} ${DIR}/models/wrong)
