# Code generation (codegen/): built into the kiln library. It uses LLVM 19's
# C API through the shared libLLVM (llvm-config-19 finds it).
find_program(KILN_LLVM_CONFIG NAMES llvm-config-19 llvm-config
             PATHS /usr/lib/llvm-19/bin NO_CACHE)
if(NOT KILN_LLVM_CONFIG)
  message(FATAL_ERROR "kiln needs LLVM 19 (llvm-config-19 not found; install llvm-19-dev)")
endif()
execute_process(COMMAND ${KILN_LLVM_CONFIG} --version OUTPUT_VARIABLE KILN_LLVM_VERSION
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT KILN_LLVM_VERSION MATCHES "^19\\.")
  message(FATAL_ERROR "kiln needs LLVM 19; ${KILN_LLVM_CONFIG} is ${KILN_LLVM_VERSION}")
endif()
execute_process(COMMAND ${KILN_LLVM_CONFIG} --includedir OUTPUT_VARIABLE KILN_LLVM_INCLUDE
                OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND ${KILN_LLVM_CONFIG} --libdir OUTPUT_VARIABLE KILN_LLVM_LIBDIR
                OUTPUT_STRIP_TRAILING_WHITESPACE)
find_library(KILN_LLVM_LIB NAMES LLVM-19 LLVM HINTS ${KILN_LLVM_LIBDIR} NO_DEFAULT_PATH)
if(NOT KILN_LLVM_LIB)
  message(FATAL_ERROR "the shared libLLVM was not found in ${KILN_LLVM_LIBDIR}")
endif()

file(GLOB KILN_CG_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/codegen/*.c
     ${CMAKE_SOURCE_DIR}/codegen/cpu/*.c)
target_sources(kiln PRIVATE ${KILN_CG_SRC})
target_include_directories(kiln SYSTEM PRIVATE ${KILN_LLVM_INCLUDE})
target_link_libraries(kiln PUBLIC ${KILN_LLVM_LIB} ${CMAKE_DL_LIBS})
