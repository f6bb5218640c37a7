# Install test (CTest, script mode): installs the `kilnrt` component of the
# build tree into WORK/prefix, then builds tests/runtime/consumer/main.c
# against that prefix only, twice:
#   - with pkg-config (`pkg-config --cflags --libs kilnrt`, PKG_CONFIG_PATH
#     pointing into the prefix), and --static for the archive;
#   - as a CMake project using find_package(kiln) with kiln::kilnrt and
#     kiln::kilnrt_static;
# and runs every program on examples/mlp.kir compiled by `kiln compile`.
#
# Arguments: BUILD (build tree), SRC (source root), WORK (scratch), KILN,
# LIBDIR (CMAKE_INSTALL_LIBDIR),
# CC, EXTRA_FLAGS (e.g. the sanitizer flags of the build, ';'-separated).

cmake_minimum_required(VERSION 3.20)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "command failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

function(expect_ok program)
  run(${program} ${WORK}/mlp.so ${WORK}/out.npy)
  if(NOT run_out MATCHES "mlp: 1 input\\(s\\), 1 output\\(s\\)" OR NOT run_out MATCHES "consumer ok")
    message(FATAL_ERROR "${program}: unexpected output:\n${run_out}")
  endif()
  if(NOT EXISTS ${WORK}/out.npy)
    message(FATAL_ERROR "${program} wrote no ${WORK}/out.npy")
  endif()
  file(REMOVE ${WORK}/out.npy)
  message(STATUS "${program}: ok")
endfunction()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(prefix ${WORK}/prefix)
set(lib ${prefix}/${LIBDIR})
run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix} --component kilnrt)
foreach(f include/kilnrt.h include/kilnrt_npy.h include/kiln_dtype.h include/kiln_status.h
          include/kiln_artifact.h ${LIBDIR}/libkilnrt.a ${LIBDIR}/libkilnrt.so
          ${LIBDIR}/pkgconfig/kilnrt.pc
          ${LIBDIR}/cmake/kiln/kilnConfig.cmake ${LIBDIR}/cmake/kiln/kilnConfigVersion.cmake
          ${LIBDIR}/cmake/kiln/kilnTargets.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "cmake --install did not install ${f}")
  endif()
endforeach()

run(${KILN} compile ${SRC}/examples/mlp.kir -o ${WORK}/mlp.so)

# ---- pkg-config -----------------------------------------------------------------------
find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
set(ENV{PKG_CONFIG_PATH} ${lib}/pkgconfig)
run(${PKG_CONFIG} --cflags --libs kilnrt)
string(STRIP "${run_out}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
if(NOT "-lkilnrt" IN_LIST flags)
  message(FATAL_ERROR "pkg-config --libs kilnrt: ${flags}")
endif()
run(${CC} -std=c11 -Wall -Wextra -Werror ${EXTRA_FLAGS} ${SRC}/tests/runtime/consumer/main.c
    ${flags} -Wl,-rpath,${lib} -o ${WORK}/consumer_pc)
expect_ok(${WORK}/consumer_pc)
# the archive, with the private dependencies pkg-config --static adds
run(${PKG_CONFIG} --static --libs-only-l kilnrt)
string(STRIP "${run_out}" static_libs)
separate_arguments(static_libs UNIX_COMMAND "${static_libs}")
list(REMOVE_ITEM static_libs -lkilnrt)
run(${PKG_CONFIG} --cflags kilnrt)
string(STRIP "${run_out}" cflags)
separate_arguments(cflags UNIX_COMMAND "${cflags}")
run(${CC} -std=c11 -Wall -Wextra -Werror ${EXTRA_FLAGS} ${cflags}
    ${SRC}/tests/runtime/consumer/main.c ${lib}/libkilnrt.a ${static_libs}
    -o ${WORK}/consumer_pc_static)
expect_ok(${WORK}/consumer_pc_static)

# ---- find_package(kiln) ------------------------------------------------------------------
string(REPLACE ";" " " flag_str "${EXTRA_FLAGS}")
run(${CMAKE_COMMAND} -S ${SRC}/tests/runtime/consumer -B ${WORK}/consumer-build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${CC} "-DCMAKE_C_FLAGS=${flag_str}"
    "-DCMAKE_EXE_LINKER_FLAGS=${flag_str}")
run(${CMAKE_COMMAND} --build ${WORK}/consumer-build)
expect_ok(${WORK}/consumer-build/consumer_shared)
expect_ok(${WORK}/consumer-build/consumer_static)
# the shared program really uses the installed libkilnrt.so
find_program(LDD NAMES ldd)
if(LDD)
  run(${LDD} ${WORK}/consumer-build/consumer_shared)
  if(NOT run_out MATCHES "${lib}/libkilnrt\\.so")
    message(FATAL_ERROR "consumer_shared does not use ${lib}/libkilnrt.so:\n${run_out}")
  endif()
endif()
