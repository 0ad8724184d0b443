# Top-level list of our C user modules for CMake ports (esp32):
#   idf.py ... -DUSER_C_MODULES=<abs path>/firmware/cmodules/micropython.cmake
# Make ports take USER_C_MODULES=<abs path>/firmware/cmodules and find */micropython.mk.
include(${CMAKE_CURRENT_LIST_DIR}/hgcore/micropython.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/lms/micropython.cmake)
