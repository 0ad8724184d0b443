# _lms for CMake ports (esp32): verify only. For the ESP32 SHA accelerator,
# add a header mapping lms_sha256_* to it (see core/lms_sha256.h) and
#   target_compile_definitions(usermod_lms INTERFACE LMS_SHA256_PLATFORM_HEADER="<that header>")
add_library(usermod_lms INTERFACE)
target_sources(usermod_lms INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/modlms.c
    ${CMAKE_CURRENT_LIST_DIR}/core/lms.c
    ${CMAKE_CURRENT_LIST_DIR}/core/lms_sha256.c
)
target_include_directories(usermod_lms INTERFACE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(usermod INTERFACE usermod_lms)
