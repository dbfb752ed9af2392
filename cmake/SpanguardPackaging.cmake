# Install layout and the Debian package (`cpack -G DEB` in a build directory).
# The layout is Debian's: binaries under the packaging prefix (/usr), configuration and rules as
# conffiles under /etc/spanguard, systemd units, a logrotate file; the maintainer scripts in
# deploy/debian/ create the `spanguard` user and its state and log directories.

set(SPANGUARD_PACKAGE_CONTACT
    "spanguard maintainers <maintainers@spanguard.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

set(_sg_deploy ${PROJECT_SOURCE_DIR}/deploy)
set(_sg_etc /etc/spanguard)

# ---- What is installed ----

# Both executables go to /usr/bin: besides the daemon, `spanguard` is the analysts' tool
# (replay, check-rules, show-config) and needs no privileges for that; spanguard-collector's own
# rule (src/collector/CMakeLists.txt) already installs it to bin. spanguard-pcapgen, which builds
# test captures from the test support library, is a developer tool and is not packaged.
install(TARGETS spanguard RUNTIME DESTINATION bin)

# Configuration: the documented default and the rules' support files. Absolute destinations: these
# paths are fixed by the units and the maintainer scripts whatever the packaging prefix.
install(FILES ${_sg_deploy}/spanguard.yaml DESTINATION ${_sg_etc})
file(GLOB _sg_rule_files LIST_DIRECTORIES false CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/rules/*.rules ${PROJECT_SOURCE_DIR}/rules/*.config)
list(SORT _sg_rule_files)
install(FILES ${_sg_rule_files} DESTINATION ${_sg_etc}/rules)

install(FILES ${_sg_deploy}/systemd/spanguard@.service
              ${_sg_deploy}/systemd/spanguard-collector.service
        DESTINATION /lib/systemd/system)
install(FILES ${_sg_deploy}/logrotate/spanguard DESTINATION /etc/logrotate.d)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${_sg_deploy}/DEPLOYING.md
              ${_sg_deploy}/debian/copyright
        DESTINATION share/doc/spanguard)

# dpkg keeps an operator's edits of these across upgrades: every file installed under /etc.
set(_sg_conffiles "${_sg_etc}/spanguard.yaml\n/etc/logrotate.d/spanguard\n")
foreach(f IN LISTS _sg_rule_files)
  get_filename_component(name ${f} NAME)
  string(APPEND _sg_conffiles "${_sg_etc}/rules/${name}\n")
endforeach()
file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles ${_sg_conffiles})

# ---- The package ----

set(CPACK_PACKAGE_NAME spanguard)
set(CPACK_PACKAGE_VENDOR "spanguard")
set(CPACK_PACKAGE_CONTACT "${SPANGUARD_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "passive IDS for switch mirror ports that tears down offending TCP sessions")
set(CPACK_PACKAGE_DESCRIPTION
    "spanguard captures the copies of traffic a switch mirror (SPAN) port or a TAP delivers, \
reassembles TCP streams, matches them against Snort/Suricata-syntax rules with Hyperscan and \
resets offending sessions with spoofed TCP RSTs. Alerts are written as EVE JSON and streamed as \
Protobuf to spanguard-collector.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # spanguard_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Runtime libraries (libpcap, libhs, libnet, protobuf, ...) come from dpkg-shlibdeps; the user is
# created with adduser.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "ethtool")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_sg_deploy}/debian/postinst ${_sg_deploy}/debian/prerm ${_sg_deploy}/debian/postrm
    ${PROJECT_BINARY_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)  # scripts 0755, conffiles 0644

include(CPack)
