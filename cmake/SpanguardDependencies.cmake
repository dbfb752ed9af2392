# Third-party dependencies, all from Debian 12 packages (tools/setup.sh installs them).
find_package(PkgConfig REQUIRED)
pkg_check_modules(HS REQUIRED IMPORTED_TARGET libhs)
pkg_check_modules(PCAP REQUIRED IMPORTED_TARGET libpcap)
pkg_check_modules(PROTOBUF REQUIRED IMPORTED_TARGET protobuf)
pkg_check_modules(SPDLOG REQUIRED IMPORTED_TARGET spdlog)
pkg_check_modules(YAMLCPP REQUIRED IMPORTED_TARGET yaml-cpp)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
# Prometheus endpoint (ops/metrics_server). Debian builds cpp-httplib as a shared library; its
# pkg-config flags carry the feature macros (TLS, compression) the library's ABI was built with.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(CAPNG REQUIRED IMPORTED_TARGET libcap-ng)  # dropping root (ops/privileges)
find_package(CLI11 CONFIG REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL 3 REQUIRED)  # X.509 parsing, JA3/JA4 and certificate hashes
# RapidJSON (header-only) for the EVE printer (output/json_printer): Debian's
# RapidJSONConfig.cmake only sets RAPIDJSON_INCLUDE_DIRS, so the header is located from there.
find_package(RapidJSON CONFIG REQUIRED)
find_path(RAPIDJSON_INCLUDE_DIR rapidjson/writer.h HINTS ${RAPIDJSON_INCLUDE_DIRS} REQUIRED)
add_library(spanguard_rapidjson INTERFACE)
target_include_directories(spanguard_rapidjson SYSTEM INTERFACE ${RAPIDJSON_INCLUDE_DIR})
add_library(RapidJSON::RapidJSON ALIAS spanguard_rapidjson)
find_program(PROTOC_EXECUTABLE protoc REQUIRED)

# libnet ships no pkg-config file on Debian 12: ask libnet-config for its defines, find the library.
find_program(LIBNET_CONFIG libnet-config REQUIRED)
execute_process(COMMAND ${LIBNET_CONFIG} --defines OUTPUT_VARIABLE LIBNET_DEFINES
                OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(LIBNET_DEFINES UNIX_COMMAND "${LIBNET_DEFINES}")
# glibc deprecated _BSD_SOURCE in favour of _DEFAULT_SOURCE and warns about it.
list(TRANSFORM LIBNET_DEFINES REPLACE "^-D_BSD_SOURCE$" "-D_DEFAULT_SOURCE")
find_path(LIBNET_INCLUDE_DIR libnet.h REQUIRED)
find_library(LIBNET_LIBRARY net REQUIRED)
add_library(spanguard_libnet INTERFACE)
target_include_directories(spanguard_libnet INTERFACE ${LIBNET_INCLUDE_DIR})
target_compile_options(spanguard_libnet INTERFACE ${LIBNET_DEFINES})
target_link_libraries(spanguard_libnet INTERFACE ${LIBNET_LIBRARY})
add_library(Libnet::libnet ALIAS spanguard_libnet)

if(SPANGUARD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
