# libkilnrt tests beyond the unit suite (tests/unit/test_runtime.c):
#   runtime/install   install the kilnrt component into a temporary prefix and
#                     build a consumer with pkg-config and find_package(kiln)
#   runtime/cli       `kiln run ARTIFACT` and the format of `kiln bench`
set(KILNRT_CONSUMER_FLAGS "")
if(KILN_SANITIZE)
  set(KILNRT_CONSUMER_FLAGS "-fsanitize=address,undefined;-fno-omit-frame-pointer")
endif()
add_test(NAME runtime/install
         COMMAND ${CMAKE_COMMAND} -DBUILD=${CMAKE_BINARY_DIR} -DSRC=${CMAKE_SOURCE_DIR}
                 -DWORK=${CMAKE_CURRENT_BINARY_DIR}/runtime_install -DKILN=$<TARGET_FILE:kiln_cli>
                 -DCC=${CMAKE_C_COMPILER} -DLIBDIR=${CMAKE_INSTALL_LIBDIR}
                 "-DEXTRA_FLAGS=${KILNRT_CONSUMER_FLAGS}"
                 -P ${CMAKE_CURRENT_LIST_DIR}/install_test.cmake)
add_test(NAME runtime/cli
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_runtime_test.sh $<TARGET_FILE:kiln_cli>
                 ${CMAKE_SOURCE_DIR})
