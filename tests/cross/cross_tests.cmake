# AArch64 end-to-end tests (tests/cross/cross_test.cmake): each model is
# compiled for the host and with --target=aarch64-linux-gnu, run by
# tests/cross/cross_main.c natively and under qemu-aarch64, and the outputs
# compared. Skipped (CROSS-SKIP) without qemu-user and the AArch64 cross
# toolchain (scripts/install-deps.sh installs them). The sanitizer build
# leaves them out: they check the generated AArch64 code, which is the same
# there, and test_codegen already compiles AArch64 objects under ASan.
if(NOT KILN_SANITIZE)
  find_program(KILN_READELF NAMES readelf)
  # NAME MODEL KIND WEIGHTS MCPU(- for the default) [INPUT.npy]
  set(KILN_CROSS_CASES
      "mlp|examples/mlp.kir|so|embed|-|"
      "cnn|examples/cnn.kir|obj|file|cortex-a76|"
      "attention|examples/attention.kir|lib|embed|-|"
      "onnx-lenet5|tests/models/lenet5/model.onnx|so|embed|-|tests/models/lenet5/input_0.npy"
      "onnx-transformer_encoder|tests/models/transformer_encoder/model.onnx|obj|embed|-|tests/models/transformer_encoder/input_0.npy")
  foreach(case ${KILN_CROSS_CASES})
    string(REPLACE "|" ";" f "${case}")
    list(GET f 0 name)
    list(GET f 1 model)
    list(GET f 2 kind)
    list(GET f 3 weights)
    list(GET f 4 mcpu)
    list(GET f 5 input)
    if(mcpu STREQUAL "-")
      set(mcpu "")
    endif()
    if(input)
      set(input ${CMAKE_SOURCE_DIR}/${input})
    endif()
    add_test(NAME cross/aarch64-${name}
             COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DCC=${CMAKE_C_COMPILER}
                     -DREADELF=${KILN_READELF} -DSRC=${CMAKE_SOURCE_DIR}
                     -DWORK=${CMAKE_CURRENT_BINARY_DIR}/cross/${name}
                     -DMODEL=${CMAKE_SOURCE_DIR}/${model} -DKIND=${kind} -DWEIGHTS=${weights}
                     -DMCPU=${mcpu} -DINPUTS=${input}
                     -P ${CMAKE_CURRENT_LIST_DIR}/cross_test.cmake)
    set_tests_properties(cross/aarch64-${name} PROPERTIES
                         SKIP_REGULAR_EXPRESSION "CROSS-SKIP" TIMEOUT 300 LABELS "cross")
  endforeach()
endif()
