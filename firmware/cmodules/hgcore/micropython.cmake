# _hgcore for CMake ports (esp32).
add_library(usermod_hgcore INTERFACE)
target_sources(usermod_hgcore INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/modhgcore.c
    ${CMAKE_CURRENT_LIST_DIR}/core/hg_bytes.c
)
target_include_directories(usermod_hgcore INTERFACE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(usermod INTERFACE usermod_hgcore)
