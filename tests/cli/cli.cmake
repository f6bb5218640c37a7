# Command-line tests (tests/cli/cli_test.sh).
add_test(NAME cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_test.sh $<TARGET_FILE:kiln_cli> ${CMAKE_SOURCE_DIR})
add_test(NAME cli/progress COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/progress_test.sh $<TARGET_FILE:kiln_cli> ${CMAKE_SOURCE_DIR})
