# ONNX frontend: generates the protobuf-c reader for frontend/onnx.proto (kiln's
# own subset of the ONNX schema) into the build directory and adds it to the
# kiln library. Included from the top CMakeLists.txt after `kiln` is defined.
pkg_check_modules(PROTOBUF_C REQUIRED libprotobuf-c)
find_program(KILN_PROTOC_C protoc-c REQUIRED)

set(KILN_ONNX_GEN_DIR ${CMAKE_BINARY_DIR}/generated/onnx)
set(KILN_ONNX_PB_C ${KILN_ONNX_GEN_DIR}/onnx.pb-c.c)
set(KILN_ONNX_PB_H ${KILN_ONNX_GEN_DIR}/onnx.pb-c.h)

add_custom_command(
  OUTPUT ${KILN_ONNX_PB_C} ${KILN_ONNX_PB_H}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${KILN_ONNX_GEN_DIR}
  COMMAND ${KILN_PROTOC_C} --c_out=${KILN_ONNX_GEN_DIR}
          --proto_path=${CMAKE_SOURCE_DIR}/frontend ${CMAKE_SOURCE_DIR}/frontend/onnx.proto
  DEPENDS ${CMAKE_SOURCE_DIR}/frontend/onnx.proto
  COMMENT "protoc-c: frontend/onnx.proto"
  VERBATIM)

target_sources(kiln PRIVATE ${KILN_ONNX_PB_C} ${KILN_ONNX_PB_H})
# Generated code: not ours to warn about.
set_source_files_properties(${KILN_ONNX_PB_C} PROPERTIES COMPILE_OPTIONS "-w")
target_include_directories(kiln PRIVATE ${KILN_ONNX_GEN_DIR} ${PROTOBUF_C_INCLUDE_DIRS})
target_link_directories(kiln PUBLIC ${PROTOBUF_C_LIBRARY_DIRS})
target_link_libraries(kiln PUBLIC ${PROTOBUF_C_LIBRARIES})
