# docs/configuration.md must be, byte for byte, what propeller-proxy-settings-doc prints from the
# settings table, so that the page cannot drift from the code.
#   cmake -DGENERATOR=<propeller-proxy-settings-doc> -DDOC=<docs/configuration.md>
#         -DOUT=<scratch file> -DBUILD_DIR=<build directory> -P configuration_doc.cmake
execute_process(COMMAND "${GENERATOR}" OUTPUT_FILE "${OUT}" RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${GENERATOR} failed: ${status}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${OUT}" "${DOC}" RESULT_VARIABLE differs)
if(NOT differs EQUAL 0)
  execute_process(COMMAND diff -u "${DOC}" "${OUT}")
  message(FATAL_ERROR "${DOC} is not what the settings table makes of it; regenerate it with:\n"
    "  cmake --build ${BUILD_DIR} --target propeller-proxy-settings-doc && "
    "${GENERATOR} > ${DOC}")
endif()
