# libkilnrt (runtime/): loads and runs artifacts. Built from the same objects
# as a static library (kilnrt, linked into the compiler library) and a shared
# one (kilnrt_shared, libkilnrt.so). It depends on libc, libdl, libpthread,
# libm and libffi (optional: without it typed entries cannot be called),
# never on LLVM or the compiler. Also the install rules: the libraries, the
# runtime headers, kilnrt.pc and the CMake package `kiln` (kiln::kilnrt,
# kiln::kilnrt_static), all in the install component `kilnrt`
# (`cmake --install BUILD --component kilnrt`).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

pkg_check_modules(FFI libffi)

file(GLOB KILN_RT_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/runtime/*.c)
add_library(kilnrt_obj OBJECT ${KILN_RT_SRC})
set(KILNRT_PC_REQUIRES "")
set(KILNRT_FFI_BUILD "")
set(KILNRT_FFI_INSTALL "")
if(FFI_FOUND)
  target_compile_definitions(kilnrt_obj PRIVATE KILNRT_HAVE_FFI)
  target_include_directories(kilnrt_obj SYSTEM PRIVATE ${FFI_INCLUDE_DIRS})
  set(KILNRT_PC_REQUIRES "libffi")
  set(KILNRT_FFI_BUILD ${FFI_LINK_LIBRARIES})
  set(KILNRT_FFI_INSTALL ${FFI_LIBRARIES})
else()
  message(WARNING "libffi not found: libkilnrt cannot call typed entries (install libffi-dev)")
endif()

set(KILNRT_INCLUDE $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>
                   $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

add_library(kilnrt STATIC $<TARGET_OBJECTS:kilnrt_obj>)
set_target_properties(kilnrt PROPERTIES EXPORT_NAME kilnrt_static)
target_include_directories(kilnrt INTERFACE ${KILNRT_INCLUDE})
target_link_libraries(kilnrt PUBLIC m ${CMAKE_DL_LIBS} Threads::Threads
                      "$<BUILD_INTERFACE:${KILNRT_FFI_BUILD}>"
                      "$<INSTALL_INTERFACE:${KILNRT_FFI_INSTALL}>")

add_library(kilnrt_shared SHARED $<TARGET_OBJECTS:kilnrt_obj>)
set_target_properties(kilnrt_shared PROPERTIES OUTPUT_NAME kilnrt EXPORT_NAME kilnrt
                      VERSION ${PROJECT_VERSION} SOVERSION 0
                      LINK_DEPENDS ${CMAKE_SOURCE_DIR}/runtime/kilnrt.map)
target_include_directories(kilnrt_shared INTERFACE ${KILNRT_INCLUDE})
target_link_libraries(kilnrt_shared PRIVATE m ${CMAKE_DL_LIBS} Threads::Threads
                      ${KILNRT_FFI_BUILD})
target_link_options(kilnrt_shared PRIVATE
                    -Wl,--version-script=${CMAKE_SOURCE_DIR}/runtime/kilnrt.map)
if(NOT KILN_SANITIZE)
  target_link_options(kilnrt_shared PRIVATE -Wl,--no-undefined)
endif()

# ---- installation ------------------------------------------------------------------
set(KILN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)
install(TARGETS kilnrt kilnrt_shared EXPORT kilnTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT kilnrt
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT kilnrt)
install(FILES ${CMAKE_SOURCE_DIR}/include/kilnrt.h ${CMAKE_SOURCE_DIR}/include/kilnrt_npy.h
              ${CMAKE_SOURCE_DIR}/include/kiln_dtype.h ${CMAKE_SOURCE_DIR}/include/kiln_status.h
              ${CMAKE_SOURCE_DIR}/include/kiln_artifact.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT kilnrt)
install(EXPORT kilnTargets NAMESPACE kiln:: DESTINATION ${KILN_CMAKE_DIR} COMPONENT kilnrt)
configure_package_config_file(${CMAKE_SOURCE_DIR}/runtime/kilnConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/kilnConfig.cmake
                              INSTALL_DESTINATION ${KILN_CMAKE_DIR})
# 0.x: only the same minor version is compatible
write_basic_package_version_file(${CMAKE_BINARY_DIR}/kilnConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/kilnConfig.cmake ${CMAKE_BINARY_DIR}/kilnConfigVersion.cmake
        DESTINATION ${KILN_CMAKE_DIR} COMPONENT kilnrt)
# kilnrt.pc locates the prefix from its own directory (${pcfiledir})
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  message(FATAL_ERROR "kilnrt.pc needs a relative CMAKE_INSTALL_LIBDIR")
endif()
file(RELATIVE_PATH KILNRT_PC_RELPREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" KILNRT_PC_RELPREFIX "${KILNRT_PC_RELPREFIX}")
configure_file(${CMAKE_SOURCE_DIR}/runtime/kilnrt.pc.in ${CMAKE_BINARY_DIR}/kilnrt.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/kilnrt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT kilnrt)
