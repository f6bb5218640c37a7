# Golden IR tests: each tests/golden/*.kir is a model with a header line
#
#   # PASSES: infer-shapes,fold-constants,dce
#
# and FileCheck directives (# CHECK:, # CHECK-NEXT:, # CHECK-NOT:, ...). The
# test runs `kiln ir FILE --passes=LIST` and checks its output with
# `FileCheck FILE`. A file that also has the line
#
#   # EXPECT: error
#
# must make kiln fail; FileCheck then reads kiln's error message instead.
#
# This file has two roles: included from tests/CMakeLists.txt it registers
# one CTest test per file (golden/NAME); run with `cmake -P` it is the
# runner of one test (arguments KILN, FILECHECK, FILE, PASSES, EXPECT). The
# runner is CMake rather than a shell pipe so that kiln's own exit status is
# checked too, without depending on the shell.

if(CMAKE_SCRIPT_MODE_FILE)
  if(EXPECT STREQUAL "error")
    execute_process(COMMAND ${KILN} ir ${FILE} --passes=${PASSES}
                    RESULT_VARIABLE kiln_rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(kiln_rc EQUAL 0)
      message(FATAL_ERROR "kiln succeeded but ${FILE} expects an error; it printed:\n${out}")
    endif()
    get_filename_component(name ${FILE} NAME)
    set(msg_file ${CMAKE_CURRENT_BINARY_DIR}/golden-${name}.stderr)
    file(WRITE ${msg_file} "${err}")
    execute_process(COMMAND ${FILECHECK} ${FILE} --input-file=${msg_file}
                    RESULT_VARIABLE fc_rc)
    if(NOT fc_rc EQUAL 0)
      message(FATAL_ERROR "FileCheck failed on kiln's error message:\n${err}")
    endif()
    return()
  endif()
  execute_process(COMMAND ${KILN} ir ${FILE} --passes=${PASSES}
                  COMMAND ${FILECHECK} ${FILE}
                  RESULTS_VARIABLE rcs ERROR_VARIABLE err)
  list(GET rcs 0 kiln_rc)
  list(GET rcs 1 fc_rc)
  if(NOT kiln_rc EQUAL 0)
    message(FATAL_ERROR "kiln ir ${FILE} --passes=${PASSES} failed (${kiln_rc}):\n${err}")
  endif()
  if(NOT fc_rc EQUAL 0)
    message(FATAL_ERROR "FileCheck failed:\n${err}")
  endif()
  return()
endif()

find_program(KILN_FILECHECK NAMES FileCheck FileCheck-19 HINTS /usr/lib/llvm-19/bin)
if(NOT KILN_FILECHECK)
  message(WARNING "FileCheck not found (looked in /usr/lib/llvm-19/bin and PATH): "
                  "the golden IR tests are not registered")
  return()
endif()

file(GLOB KILN_GOLDEN_FILES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.kir)
foreach(kir ${KILN_GOLDEN_FILES})
  get_filename_component(name ${kir} NAME_WE)
  file(STRINGS ${kir} passes_line REGEX "^# PASSES:")
  if(NOT passes_line)
    message(FATAL_ERROR "${kir}: no '# PASSES: a,b,c' header line")
  endif()
  list(GET passes_line 0 passes_line)
  string(REGEX REPLACE "^# PASSES:[ \t]*" "" passes "${passes_line}")
  string(STRIP "${passes}" passes)
  file(STRINGS ${kir} expect_line REGEX "^# EXPECT:")
  set(expect "")
  if(expect_line)
    list(GET expect_line 0 expect_line)
    string(REGEX REPLACE "^# EXPECT:[ \t]*" "" expect "${expect_line}")
    string(STRIP "${expect}" expect)
  endif()
  add_test(NAME golden/${name}
           COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DFILECHECK=${KILN_FILECHECK}
                   -DFILE=${kir} -DPASSES=${passes} -DEXPECT=${expect}
                   -P ${CMAKE_CURRENT_LIST_FILE})
endforeach()
