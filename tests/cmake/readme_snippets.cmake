# Compiles and runs every C++ snippet of README.md, so that the README cannot drift from the
# library. A snippet with its own main() is built as it is; any other is put inside a main() that
# has a `weft::thread_pool pool{4};` in scope, with the usual standard headers included and
# assert() enabled in every build type.
set(readme "${PROJECT_SOURCE_DIR}/README.md")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${readme}")
file(READ "${readme}" text)

set(prologue [=[
#undef NDEBUG
#include <weft/weft.hpp>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <numeric>
#include <stop_token>
#include <string>
#include <vector>
]=])

set(index 0)
while(TRUE)
  string(FIND "${text}" "```cpp\n" start)
  if(start EQUAL -1)
    break()
  endif()
  math(EXPR start "${start} + 7")
  string(SUBSTRING "${text}" ${start} -1 text)
  string(FIND "${text}" "```" stop)
  string(SUBSTRING "${text}" 0 ${stop} snippet)
  string(SUBSTRING "${text}" ${stop} -1 text)

  math(EXPR index "${index} + 1")
  set(source "${CMAKE_CURRENT_BINARY_DIR}/readme/snippet_${index}.cpp")
  if(snippet MATCHES "int main\\(")
    set(content "${snippet}")
  else()
    set(content "${prologue}\nint main() {\n  weft::thread_pool pool{4};\n${snippet}}\n")
  endif()
  file(CONFIGURE OUTPUT "${source}" CONTENT "${content}" @ONLY)
  add_executable(readme_snippet_${index} "${source}")
  target_link_libraries(readme_snippet_${index} PRIVATE weft::weft)
  add_test(NAME readme_snippet_${index} COMMAND readme_snippet_${index})
  set_tests_properties(readme_snippet_${index} PROPERTIES TIMEOUT 120 ENVIRONMENT
    "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endwhile()

if(index EQUAL 0)
  message(FATAL_ERROR "README.md has no ```cpp snippet: the extraction is broken")
endif()
