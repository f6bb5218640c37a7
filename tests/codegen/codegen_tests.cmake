# Code-generation tests beyond the unit suite (tests/unit/test_codegen.c):
# the deployment of examples/mlp.kir as a .so, .a and .o into a C program
# that sees only the generated header.
find_program(KILN_READELF NAMES readelf)
foreach(kind so lib obj)
  foreach(weights embed file)
    if(NOT kind STREQUAL "so" AND weights STREQUAL "file")
      continue()
    endif()
    add_test(NAME codegen/deploy_${kind}_${weights}
             COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DCC=${CMAKE_C_COMPILER}
                     -DREADELF=${KILN_READELF} -DSRC=${CMAKE_SOURCE_DIR}
                     -DWORK=${CMAKE_CURRENT_BINARY_DIR}/deploy_${kind}_${weights}
                     -DKIND=${kind} -DWEIGHTS=${weights}
                     -P ${CMAKE_CURRENT_SOURCE_DIR}/codegen/deploy_test.cmake)
  endforeach()
endforeach()
