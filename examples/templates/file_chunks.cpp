// file_chunks.cpp - template: read a large file in windows, with read-ahead, and count its lines
// and bytes in parallel, in bounded memory.
//
// The idea: the file is read with pread() in fixed-size windows. While the workers count the
// current window (weft::parallel_reduce over chunks of it), the next window is already being read
// by std::async: I/O and computation overlap, and only two windows are ever in memory, whatever the
// file size.
//
// To adapt: replace count_lines() by your per-chunk work and `counts` by your partial result. If
// your records can straddle windows (lines, CSV records), carry the incomplete tail of each window
// over to the next one - the customer_analysis example shows how.
//
// Usage: file_chunks [FILE]   (without FILE it writes, counts and removes a test file)
#include <weft/weft.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

struct counts {
  std::uint64_t bytes = 0;
  std::uint64_t lines = 0;  // LF bytes
};

counts combine(counts a, const counts& b) {
  return {a.bytes + b.bytes, a.lines + b.lines};
}

// Reads up to `size` bytes at `offset` into `buf`; returns the bytes read (0 at end of file).
std::size_t read_window(int fd, std::uint64_t offset, std::vector<char>& buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t r =
        ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(offset + got));
    if (r < 0) throw std::runtime_error("read error");
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

counts count_file(weft::thread_pool& pool, const char* path) {
  const int fd = ::open(path, O_RDONLY);
  if (fd < 0) throw std::runtime_error(std::string("cannot open ") + path);
  constexpr std::size_t window = std::size_t{4} << 20;   // 4 MiB per read
  constexpr std::size_t grain = std::size_t{256} << 10;  // 256 KiB per parallel chunk
  std::vector<char> current(window), next(window);

  counts total;
  std::uint64_t offset = 0;
  std::size_t n = read_window(fd, offset, current);
  while (n > 0) {
    offset += n;
    // Read-ahead: start reading the next window before counting this one.
    auto pending = std::async(std::launch::async, [&] { return read_window(fd, offset, next); });

    const char* d = current.data();
    total = combine(total, weft::parallel_reduce(
                               pool, weft::chunked(std::size_t{0}, n, grain), counts{},
                               [&](weft::chunk<std::size_t> c) {
                                 return counts{c.size(), static_cast<std::uint64_t>(std::count(
                                                             d + c.first(), d + c.last(), '\n'))};
                               },
                               combine));
    n = pending.get();
    std::swap(current, next);
  }
  ::close(fd);
  return total;
}

int main(int argc, char** argv) {
  weft::thread_pool pool;
  if (argc > 1) {
    const counts c = count_file(pool, argv[1]);
    std::printf("%llu lines, %llu bytes\n", static_cast<unsigned long long>(c.lines),
                static_cast<unsigned long long>(c.bytes));
    return 0;
  }

  // Self-check: a file of known content, larger than a few windows.
  std::string name = (std::filesystem::temp_directory_path() / "weft_file_chunks_XXXXXX").string();
  char* path = name.data();
  const int fd = ::mkstemp(path);
  if (fd < 0) return 1;
  std::string text;
  std::uint64_t lines = 0;
  for (std::uint64_t i = 0; i < 600'000; ++i, ++lines)
    text += "line " + std::to_string(i * 31) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  counts c;
  try {
    c = count_file(pool, path);
  } catch (...) {
    ::unlink(path);
    throw;
  }
  ::unlink(path);
  if (!written || c.bytes != text.size() || c.lines != lines) {
    std::fprintf(stderr, "wrong counts: %llu lines, %llu bytes\n",
                 static_cast<unsigned long long>(c.lines),
                 static_cast<unsigned long long>(c.bytes));
    return 1;
  }
  std::printf("file_chunks: %llu lines, %llu bytes\n", static_cast<unsigned long long>(c.lines),
              static_cast<unsigned long long>(c.bytes));
  return 0;
}
