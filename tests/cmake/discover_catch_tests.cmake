# Script mode (cmake -P), run after each build of a Catch2 test executable: lists its test cases
# and writes a CTest file that registers each one as its own test.
#
# It replaces Catch2 v2's CatchAddTests.cmake, which splits the list of test names as a CMake
# list and so merges every name after one holding an unbalanced '[' (e.g. "[first, last)") into
# a single test that runs nothing.
#
# Input variables: TEST_EXECUTABLE, TEST_WORKING_DIR, CTEST_FILE, TEST_TIMEOUT (seconds, may be
# empty), TEST_ENVIRONMENT (VAR=value entries separated by '<weft_sc>', may be empty).

foreach(var TEST_EXECUTABLE TEST_WORKING_DIR CTEST_FILE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "discover_catch_tests.cmake: ${var} is not set")
  endif()
endforeach()

string(REPLACE "<weft_sc>" ";" TEST_ENVIRONMENT "${TEST_ENVIRONMENT}")

execute_process(
  COMMAND "${TEST_EXECUTABLE}" --list-test-names-only
  WORKING_DIRECTORY "${TEST_WORKING_DIR}"
  OUTPUT_VARIABLE output
  ERROR_VARIABLE errors
  RESULT_VARIABLE result)
# Catch2 v2 exits with the number of test cases listed (modulo 256): any number is fine, but not
# a crash, which CMake reports as a message.
if(NOT result MATCHES "^[0-9]+$")
  message(FATAL_ERROR
    "Listing the tests of ${TEST_EXECUTABLE} failed: ${result}\n${output}\n${errors}")
endif()

# Protect the characters that have a meaning in CMake lists before splitting into lines.
string(REPLACE "[" "<weft_lb>" output "${output}")
string(REPLACE "]" "<weft_rb>" output "${output}")
string(REPLACE ";" "<weft_sc>" output "${output}")
string(REPLACE "\\" "<weft_bs>" output "${output}")
string(REPLACE "\n" ";" lines "${output}")

set(script "")
set(count 0)
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  # Catch prints names that start with '#' between double quotes.
  if(line MATCHES "^\"(#.*)\"$")
    set(line "${CMAKE_MATCH_1}")
  endif()
  string(REPLACE "<weft_lb>" "[" name "${line}")
  string(REPLACE "<weft_rb>" "]" name "${name}")
  string(REPLACE "<weft_sc>" ";" name "${name}")
  string(REPLACE "<weft_bs>" "\\" name "${name}")

  # The test spec that selects exactly this test case: every character that Catch's test spec
  # parser treats specially is escaped with a backslash. `--warn NoTests` makes a spec that
  # selects nothing a failure instead of a silent pass.
  set(spec "${name}")
  foreach(char "\\" "," "[" "]" "\"" "~" "*" "!")
    string(REPLACE "${char}" "\\${char}" spec "${spec}")
  endforeach()
  # A leading '-' would make the command line parser take the name for an option.
  string(REGEX REPLACE "^-" "\\\\-" spec "${spec}")

  string(APPEND script
    "add_test([==[${name}]==] [==[${TEST_EXECUTABLE}]==] --warn NoTests [==[${spec}]==])\n"
    "set_tests_properties([==[${name}]==] PROPERTIES\n"
    "  WORKING_DIRECTORY [==[${TEST_WORKING_DIR}]==]\n")
  if(TEST_TIMEOUT)
    string(APPEND script "  TIMEOUT ${TEST_TIMEOUT}\n")
  endif()
  if(TEST_ENVIRONMENT)
    string(APPEND script "  ENVIRONMENT [==[${TEST_ENVIRONMENT}]==]\n")
  endif()
  string(APPEND script ")\n")
  math(EXPR count "${count} + 1")
endforeach()

if(count EQUAL 0)
  message(WARNING "${TEST_EXECUTABLE} has no test cases")
endif()
file(WRITE "${CTEST_FILE}" "${script}")
