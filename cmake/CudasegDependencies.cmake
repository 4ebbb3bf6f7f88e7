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
