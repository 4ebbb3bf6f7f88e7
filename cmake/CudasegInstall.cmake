# cmake --install: the libraries, the headers (under include/cudaseg, keeping
# their folders), a CMake package (find_package(cudaseg)) and a pkg-config file.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS cudaseg cudaseg_static EXPORT cudasegTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(dir runtime ops autograd nn nets weights infer train)
  install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cudaseg/${dir}
    FILES_MATCHING PATTERN "*.h" PATTERN "cpu" EXCLUDE PATTERN "cuda" EXCLUDE)
endforeach()
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cudaseg FILES_MATCHING PATTERN "*.h")
install(FILES "${CUDASEG_GENERATED_DIR}/cudaseg_config.h" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cudaseg)
if(CUDASEG_BUILD_APPS)
  install(TARGETS ${CUDASEG_PROGRAMS_apps} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT cudasegTargets NAMESPACE cudaseg:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cudaseg)
configure_package_config_file(cmake/cudasegConfig.cmake.in
  "${CMAKE_CURRENT_BINARY_DIR}/cudasegConfig.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cudaseg)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/cudasegConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/cudasegConfig.cmake"
  "${CMAKE_CURRENT_BINARY_DIR}/cudasegConfigVersion.cmake"
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cudaseg)

set(CUDASEG_PC_LIBS_PRIVATE "-lopenblas -lz -lpthread")
if(CUDASEG_WITH_CUDA)
  string(APPEND CUDASEG_PC_LIBS_PRIVATE " -L${CUDAToolkit_LIBRARY_DIR} -lcudart_static -ldl -lrt")
endif()
if(CUDASEG_WITH_MPI)
  list(JOIN MPI_C_LIBRARIES " " mpi_libs)
  string(APPEND CUDASEG_PC_LIBS_PRIVATE " ${mpi_libs}")
endif()
# Relative to the .pc file, so the installed tree can be moved.
file(RELATIVE_PATH CUDASEG_PC_TO_PREFIX "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
configure_file(cmake/cudaseg.pc.in "${CMAKE_CURRENT_BINARY_DIR}/cudaseg.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/cudaseg.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
