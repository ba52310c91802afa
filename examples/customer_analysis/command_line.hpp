// command_line.hpp - what both command lines (customer_analysis and customer_analysis_mpi) share:
// the check of numeric options (a plain positive decimal integer: CLI11 alone would accept "+4"),
// the measuring aids read from the environment, and writing the report through a temporary file
// and rename().
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "analyze.hpp"
#include "schema.hpp"
#include <fcntl.h>
#include <unistd.h>

namespace customer_analysis {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A plain decimal integer (digits only) within [min, max].
inline std::uint64_t parse_number(const std::string& text, const char* option, std::uint64_t min,
                                  std::uint64_t max) {
  std::uint64_t v = 0;
  if (!parse_uint(text, max, v) || v < min) {
    throw usage_error(std::string(option) + " must be " +
                      (min > 0 ? "a positive" : "a non-negative") + " decimal integer" +
                      (max < UINT64_MAX ? " up to " + std::to_string(max) : std::string()) +
                      ", not \"" + text + "\"");
  }
  return v;
}

// Measuring aids, for comparing the ways of reading: CUSTOMER_ANALYSIS_READ_AHEAD=0 reads
// synchronously, CUSTOMER_ANALYSIS_MAP=1 maps large windows instead of reading them (reader.hpp).
inline void read_measuring_aids(analyze_options& o) {
  auto is = [](const char* name, const char* value) {
    const char* v = std::getenv(name);
    return v != nullptr && std::strcmp(v, value) == 0;
  };
  if (is("CUSTOMER_ANALYSIS_READ_AHEAD", "0")) o.read_ahead = false;
  if (is("CUSTOMER_ANALYSIS_MAP", "1")) o.map = true;
}

// Writes `text` to `path` atomically: a temporary file in the same directory, then rename(), so
// that a failure never leaves a partial report nor harms an existing one.
inline void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw file_error(path, std::strerror(errno));
  std::size_t done = 0;
  int err = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<std::size_t>(w);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw file_error(path, std::strerror(err));
  }
}

}  // namespace customer_analysis
