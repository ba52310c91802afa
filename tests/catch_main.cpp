// The one translation unit that provides Catch2's main(); the tests are in tests/*_test.cpp.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
