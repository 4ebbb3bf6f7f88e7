# Host dependencies: threads, OpenBLAS (CPU matrix products), zlib (.pth zip
# entries), nlohmann/json and stb_image (header-only).
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(ZLIB REQUIRED)

find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
if(NOT STB_INCLUDE_DIR)
  message(FATAL_ERROR "stb_image.h not found: install libstb-dev (apt-get install libstb-dev)")
endif()

find_path(OPENBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas x86_64-linux-gnu/openblas-pthread aarch64-linux-gnu/openblas-pthread)
find_library(OPENBLAS_LIBRARY NAMES openblas)
if(NOT OPENBLAS_INCLUDE_DIR OR NOT OPENBLAS_LIBRARY)
  message(FATAL_ERROR "OpenBLAS not found: install libopenblas-dev (apt-get install libopenblas-dev)")
endif()

set(CUDASEG_PRIVATE_INCLUDES ${STB_INCLUDE_DIR} ${OPENBLAS_INCLUDE_DIR})
# nlohmann/json is public: the net registry and checkpoint APIs take JSON.
set(CUDASEG_PUBLIC_LIBS Threads::Threads nlohmann_json::nlohmann_json)
set(CUDASEG_PRIVATE_LIBS ${OPENBLAS_LIBRARY} ZLIB::ZLIB)

# Open MPI launches the ranks of data-parallel training and carries their CPU
# collectives (train/dist.h). Optional: without it the library builds and a
# multi-rank launch is refused with a message naming libopenmpi-dev.
option(CUDASEG_MPI "build data-parallel training's MPI engine when MPI is found" ON)
set(CUDASEG_WITH_MPI OFF)
if(CUDASEG_MPI)
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND)
    set(CUDASEG_WITH_MPI ON)
    # Plain paths rather than MPI::MPI_C, so the installed package's consumers need no find_package(MPI).
    list(APPEND CUDASEG_PRIVATE_LIBS ${MPI_C_LIBRARIES})
    list(APPEND CUDASEG_PRIVATE_INCLUDES ${MPI_C_INCLUDE_DIRS})
    message(STATUS "MPI: ${MPI_C_LIBRARIES} (mpirun: ${MPIEXEC_EXECUTABLE})")
  else()
    message(STATUS "MPI not found: data-parallel training over mpirun is off (install libopenmpi-dev)")
  endif()
endif()
