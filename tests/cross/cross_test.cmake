# AArch64 end-to-end test (CTest, script mode): compiles MODEL with
# `kiln compile --name model` once for the host and once with
# --target=aarch64-linux-gnu (a .so linked by the cross C compiler driver
# through --cc, a .o or a .a), checks the AArch64 artifact with readelf,
# builds tests/cross/cross_main.c against each artifact (the host C compiler
# and aarch64-linux-gnu-gcc), runs the AArch64 program under qemu-aarch64
# with the same inputs as the host program and compares the outputs within
# cross_main.c's tolerance (libm, FMA and vectorisation differ between the
# two machines).
#
# Needs qemu-aarch64 (Debian's qemu-user), aarch64-linux-gnu-gcc
# (gcc-aarch64-linux-gnu) and the AArch64 libc (libc6-dev-arm64-cross), which
# scripts/install-deps.sh installs. Without them it prints "CROSS-SKIP" and
# CTest reports the test as skipped (SKIP_REGULAR_EXPRESSION: `cmake -P`
# cannot choose its exit status) after the checks that need no cross tools.
#
# Arguments: KILN, CC (host compiler), READELF, SRC (source root), WORK
# (scratch dir), MODEL, KIND (so | obj | lib), WEIGHTS (embed | file),
# MCPU (AArch64 CPU, optional), INPUTS (.npy files, ';'-separated, optional:
# otherwise cross_main makes deterministic inputs).
# Overrides from the environment: KILN_CROSS_CC, KILN_QEMU_AARCH64,
# KILN_AARCH64_SYSROOT.

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "command failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

cmake_policy(SET CMP0054 NEW)
find_program(KILN_FOUND_CROSS_CC NAMES aarch64-linux-gnu-gcc)
find_program(KILN_FOUND_QEMU NAMES qemu-aarch64 qemu-aarch64-static)
set(cross_cc "${KILN_FOUND_CROSS_CC}")
set(qemu "${KILN_FOUND_QEMU}")
set(sysroot /usr/aarch64-linux-gnu)
if(DEFINED ENV{KILN_CROSS_CC})
  set(cross_cc "$ENV{KILN_CROSS_CC}")
endif()
if(DEFINED ENV{KILN_QEMU_AARCH64})
  set(qemu "$ENV{KILN_QEMU_AARCH64}")
endif()
if(DEFINED ENV{KILN_AARCH64_SYSROOT})
  set(sysroot "$ENV{KILN_AARCH64_SYSROOT}")
endif()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/host ${WORK}/aarch64)
if(KIND STREQUAL "so")
  set(art_file libmodel.so)
elseif(KIND STREQUAL "lib")
  set(art_file libmodel.a)
else()
  set(art_file model.o)
endif()
set(cflags -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -Wall -Wextra -Werror)
set(weights_arg "")
set(host_weights "")
if(WEIGHTS STREQUAL "file")
  set(weights_arg --weights ${WORK}/aarch64/model.weights)
  set(host_weights --weights ${WORK}/host/model.weights)
endif()
set(mcpu_arg "")
if(MCPU)
  set(mcpu_arg --mcpu=${MCPU})
endif()

# -- the AArch64 artifact; a .so needs the cross driver to link
set(compile_args ${MODEL} --name model --emit=${KIND} --weights=${WEIGHTS})
set(art ${WORK}/aarch64/${art_file})
if(KIND STREQUAL "so" AND NOT cross_cc)
  message("CROSS-SKIP: aarch64-linux-gnu-gcc not found (apt-get install gcc-aarch64-linux-gnu)")
  return()
endif()
set(cc_arg "")
if(KIND STREQUAL "so")
  set(cc_arg --cc ${cross_cc})
endif()
run(${KILN} compile ${compile_args} -o ${art} --target=aarch64-linux-gnu ${mcpu_arg} ${cc_arg})
run(${READELF} -h ${art})
# every ELF header (one per archive member) says AArch64, ELF64
string(REGEX MATCHALL "Machine: +[^\n]*" machines "${run_out}")
string(REGEX MATCHALL "Machine: +AArch64\n" aarch64 "${run_out}\n")
string(REGEX MATCHALL "Class: +ELF64" elf64 "${run_out}")
list(LENGTH machines n_machines)
list(LENGTH aarch64 n_aarch64)
list(LENGTH elf64 n_elf64)
if(n_machines EQUAL 0 OR NOT n_aarch64 EQUAL n_machines OR NOT n_elf64 EQUAL n_machines)
  message(FATAL_ERROR "${art} is not 64-bit AArch64 ELF code:\n${run_out}")
endif()
if(KIND STREQUAL "so")
  run(${READELF} -d ${art})
  string(REGEX MATCHALL "Shared library: \\[[^]]+\\]" needed "${run_out}")
  foreach(lib ${needed})
    if(NOT lib MATCHES "\\[(libc|libm|libpthread)\\.so\\.[0-9]+\\]")
      message(FATAL_ERROR "${art} needs ${lib}; only libc, libm and libpthread are allowed")
    endif()
  endforeach()
endif()

# -- the host artifact and program, and the reference outputs
set(host_art ${WORK}/host/${art_file})
run(${KILN} compile ${compile_args} -o ${host_art})
run(${CC} ${cflags} -I${WORK}/host ${SRC}/tests/cross/cross_main.c ${host_art}
    -Wl,-rpath,${WORK}/host -lm -o ${WORK}/host/cross_main)
run(${WORK}/host/cross_main run ${WORK}/host.bin ${INPUTS} ${host_weights})
message(STATUS "host: ${run_out}")

# -- the AArch64 program under qemu
set(missing "")
if(NOT cross_cc)
  list(APPEND missing "aarch64-linux-gnu-gcc (gcc-aarch64-linux-gnu)")
endif()
if(NOT qemu)
  list(APPEND missing "qemu-aarch64 (qemu-user)")
endif()
if(NOT EXISTS ${sysroot}/lib/ld-linux-aarch64.so.1)
  list(APPEND missing "the AArch64 libc in ${sysroot} (libc6-dev-arm64-cross)")
endif()
if(missing)
  string(REPLACE ";" ", " missing "${missing}")
  message("CROSS-SKIP: cannot run AArch64 code without ${missing}; scripts/install-deps.sh "
          "installs them")
  return()
endif()
run(${cross_cc} ${cflags} -I${WORK}/aarch64 ${SRC}/tests/cross/cross_main.c ${art}
    -Wl,-rpath,${WORK}/aarch64 -lm -o ${WORK}/aarch64/cross_main)
run(${READELF} -h ${WORK}/aarch64/cross_main)
if(NOT run_out MATCHES "Machine: +AArch64")
  message(FATAL_ERROR "the cross-compiled program is not AArch64 code:\n${run_out}")
endif()
run(${qemu} -L ${sysroot} ${WORK}/aarch64/cross_main run ${WORK}/aarch64.bin ${INPUTS}
    ${weights_arg})
message(STATUS "aarch64 (qemu): ${run_out}")
if(NOT run_out MATCHES "target: aarch64")
  message(FATAL_ERROR "the program under qemu did not run the AArch64 artifact:\n${run_out}")
endif()
run(${WORK}/host/cross_main compare ${WORK}/host.bin ${WORK}/aarch64.bin)
message(STATUS "host vs aarch64:\n${run_out}")
