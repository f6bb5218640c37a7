# Deployment test (CTest, script mode): compiles examples/mlp.kir with
# `kiln compile` as a .so, .a or .o (embedded or file weights), checks the
# .so's NEEDED libraries with readelf, builds tests/codegen/mlp_main.c with
# the C compiler against the generated header only, and runs it against the
# interpreter's output.
#
# Arguments: KILN, CC, READELF, SRC (source root), WORK (scratch dir),
# KIND (so | lib | obj), WEIGHTS (embed | file).

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "command failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(model ${SRC}/examples/mlp.kir)
if(KIND STREQUAL "so")
  set(artifact ${WORK}/libmlp.so)
elseif(KIND STREQUAL "lib")
  set(artifact ${WORK}/libmlp.a)
else()
  set(artifact ${WORK}/mlp.o)
endif()
run(${KILN} compile ${model} -o ${artifact} --emit=${KIND} --weights=${WEIGHTS})
if(NOT EXISTS ${WORK}/mlp.h)
  message(FATAL_ERROR "kiln compile did not write ${WORK}/mlp.h")
endif()

if(KIND STREQUAL "so")
  # the artifact may need only libc, libm and libpthread
  run(${READELF} -d ${artifact})
  string(REGEX MATCHALL "Shared library: \\[[^]]+\\]" needed "${run_out}")
  if(NOT needed)
    message(FATAL_ERROR "readelf -d found no NEEDED entries:\n${run_out}")
  endif()
  foreach(lib ${needed})
    if(NOT lib MATCHES "\\[(libc|libm|libpthread)\\.so\\.[0-9]+\\]")
      message(FATAL_ERROR "${artifact} needs ${lib}; only libc, libm and libpthread are allowed")
    endif()
  endforeach()
  set(link ${artifact} -Wl,-rpath,${WORK})
else()
  set(link ${artifact} -lm)
endif()

run(${CC} -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I${WORK}
    ${SRC}/tests/codegen/mlp_main.c ${link} -lpthread -lm -o ${WORK}/mlp_main)
run(${WORK}/mlp_main gen ${WORK}/x.npy)
run(${KILN} run ${model} --interp --input x=${WORK}/x.npy --output-dir ${WORK}/ref)
set(wfile "")
if(WEIGHTS STREQUAL "file")
  set(wfile ${WORK}/mlp.weights)
endif()
run(${WORK}/mlp_main check ${WORK}/x.npy ${WORK}/ref/y.npy ${wfile})
message(STATUS "${run_out}")
