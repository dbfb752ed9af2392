# Helpers that give every module, tool and test the same shape and the same warning flags.
add_library(spanguard_warnings INTERFACE)
target_compile_options(spanguard_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       -Wnon-virtual-dtor -Wimplicit-fallthrough
                       $<$<BOOL:${SPANGUARD_WERROR}>:-Werror>)

# spanguard_module(NAME SOURCES ... [DEPS public deps...] [PRIVATE_DEPS ...])
# Defines library target spanguard_<NAME> (alias spanguard::<NAME>) with include/ as its public root.
function(spanguard_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(spanguard_${name} STATIC ${M_SOURCES})
  add_library(spanguard::${name} ALIAS spanguard_${name})
  target_include_directories(spanguard_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(spanguard_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS} spanguard_warnings)
endfunction()

# spanguard_test(NAME SOURCES ... [DEPS ...] [LABELS ...])
# A GoogleTest executable whose cases are registered one by one with CTest.
function(spanguard_test name)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest_main GTest::gmock spanguard_warnings)
  target_compile_definitions(${name} PRIVATE
    SPANGUARD_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SPANGUARD_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120 PROPERTIES LABELS "${T_LABELS}" TIMEOUT 300)
endfunction()
