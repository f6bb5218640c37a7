# Fuzz targets for kiln's model parsers (tests/fuzz/fuzz_*.c):
#   fuzz_kir     .kir text     kir_parse_string, printer round trip, infer-shapes
#   fuzz_onnx    ONNX models   onnx_load_buffer, infer-shapes, printer round trip
#   fuzz_tensor  TensorProto   onnx_read_tensor_buffer
# Seeds are in tests/fuzz/corpus/{kir,onnx,tensor}; tests/fuzz/run.sh builds
# and runs them for a bounded time (CI), and tests/fuzz/README.md says how to
# run them for longer.
#
# This file has two roles.
#  - With -DKILN_FUZZ=ON (and CC=clang), the top CMakeLists.txt includes it
#    in place of the normal build: only the parsers, the IR and the libFuzzer
#    targets are built, everything with -fsanitize=fuzzer-no-link,address,
#    undefined, and the parsers' allocation limits made small enough for
#    libFuzzer's memory limit (KIR_MAX_INIT_BYTES).
#  - In the normal build (tests/CMakeLists.txt includes it) each target is
#    linked with replay.c instead of libFuzzer and registered with CTest as
#    fuzz/NAME, replaying its corpus (seeds and regression inputs) once, so
#    the regressions also run under the ASan + UBSan build.

set(KILN_FUZZ_TARGETS kir onnx tensor)
set(KILN_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)

if(KILN_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "KILN_FUZZ needs clang (libFuzzer): configure with CC=clang")
  endif()
  # Initialiser data one .kir parse may allocate (frontend/kir.h): 16 MiB,
  # well inside the fuzzers' -rss_limit_mb, even with the re-parse.
  set(KILN_FUZZ_KIR_MAX_INIT_BYTES 16777216 CACHE STRING "KIR_MAX_INIT_BYTES of the fuzz build")
  set(KILN_FUZZ_SAN -fsanitize=address,undefined -fno-sanitize-recover=all)
  add_compile_options(${KILN_FUZZ_SAN} -fsanitize=fuzzer-no-link -fno-omit-frame-pointer -g)
  add_compile_definitions(KIR_MAX_INIT_BYTES=INT64_C\(${KILN_FUZZ_KIR_MAX_INIT_BYTES}\)
                          KILN_FUZZ_DATA_DIR="${KILN_FUZZ_DIR}/data")
  file(GLOB KILN_FUZZ_LIB_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/ir/*.c
       ${CMAKE_SOURCE_DIR}/frontend/*.c)
  add_library(kiln STATIC ${KILN_FUZZ_LIB_SRC})
  target_link_libraries(kiln PUBLIC m)
  include(${CMAKE_SOURCE_DIR}/frontend/onnx.cmake)
  foreach(t ${KILN_FUZZ_TARGETS})
    add_executable(fuzz_${t} ${KILN_FUZZ_DIR}/fuzz_${t}.c)
    target_link_libraries(fuzz_${t} PRIVATE kiln)
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer ${KILN_FUZZ_SAN})
  endforeach()
else()
  foreach(t ${KILN_FUZZ_TARGETS})
    add_executable(fuzz_replay_${t} ${KILN_FUZZ_DIR}/fuzz_${t}.c ${KILN_FUZZ_DIR}/replay.c)
    target_link_libraries(fuzz_replay_${t} PRIVATE kiln)
    target_compile_definitions(fuzz_replay_${t} PRIVATE
                               KILN_FUZZ_DATA_DIR="${KILN_FUZZ_DIR}/data")
    add_test(NAME fuzz/${t} COMMAND fuzz_replay_${t} ${KILN_FUZZ_DIR}/corpus/${t}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  endforeach()
endif()
