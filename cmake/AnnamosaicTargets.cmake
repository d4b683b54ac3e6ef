# Per-target settings (no directory-wide flags).
function(annamosaic_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(ANNAMOSAIC_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# annamosaic_library(name SOURCES ... DEPS ...): a static library whose headers are included as
# "<module>/<file>.hpp" relative to its parent folder.
function(annamosaic_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  add_library(annamosaic::${name} ALIAS ${name})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/..)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  target_compile_definitions(${name} PUBLIC OMPI_SKIP_MPICXX=1)
  annamosaic_target_defaults(${name})
endfunction()
