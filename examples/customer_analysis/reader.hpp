// reader.hpp - reading a file in windows with pread, one window ahead of the computation.
//
// What lives here:
//   * input_file: an open file descriptor, pread with retry on EINTR, errors as file_error.
//   * for_each_window(): reads [offset, end of file) in windows of a fixed size and calls a
//     function on each window, in order. With read-ahead, a dedicated I/O thread reads the next
//     windows while the current one is processed; at most `buffers` windows exist at once, so
//     memory is bounded by buffers * window bytes whatever the file size.
//
// Why a plain thread and not a weft task for the I/O: a read blocks in the kernel, and a pool
// worker blocked there would be a worker taken away from the parsing. The I/O thread uses no CPU
// while it waits, and the pool keeps all of its workers for the computation.
#pragma once

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "schema.hpp"  // file_error
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace customer_analysis {

class input_file {
 public:
  explicit input_file(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw file_error(path_, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail();
    if (S_ISDIR(st.st_mode)) {
      ::close(fd_);
      throw file_error(path_, std::strerror(EISDIR));
    }
    size_ = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
  }
  input_file(const input_file&) = delete;
  input_file& operator=(const input_file&) = delete;
  ~input_file() { ::close(fd_); }

  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }  // for progress only; reading goes to end of file

  // Reads up to n bytes at `offset`; fewer only at end of file. Throws file_error on error.
  std::size_t read_at(std::uint64_t offset, char* buf, std::size_t n) const {
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_, buf + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        fail();
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    return got;
  }

 private:
  [[noreturn]] void fail() const { throw file_error(path_, std::strerror(errno)); }
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Calls on_window(const char* data, std::size_t size) for consecutive windows of `window` bytes
// from `offset` to `end` or the end of the file, whichever comes first (the last window may be
// shorter).
template <class F>
void for_each_window(const input_file& file, std::uint64_t offset, std::size_t window,
                     bool read_ahead, F&& on_window, std::uint64_t end = ~std::uint64_t{0}) {
  // How much to read at `at`: a window, or less just before `end`.
  auto want = [&](std::uint64_t at) {
    return at >= end ? std::size_t{0}
                     : static_cast<std::size_t>(std::min<std::uint64_t>(window, end - at));
  };
  // Buffers are left uninitialised: pread fills them, and zeroing 3 windows first would cost a
  // pass over 24 MiB for nothing.
  using buffer = std::unique_ptr<char[]>;
  if (!read_ahead) {
    const buffer buf(new char[window]);
    for (;;) {
      const std::size_t n = file.read_at(offset, buf.get(), want(offset));
      if (n == 0) return;
      on_window(buf.get(), n);
      offset += n;
    }
  }

  // Three buffers: one being processed, up to two read ahead.
  constexpr std::size_t buffers = 3;
  struct filled {
    buffer data;
    std::size_t size;
  };
  std::mutex m;
  std::condition_variable cv;
  std::vector<buffer> free_buffers(buffers);
  std::deque<filled> ready;
  bool at_end = false, stop = false;
  std::exception_ptr error;

  std::thread io([&] {
    std::uint64_t at = offset;
    try {
      for (;;) {
        buffer buf;
        {
          std::unique_lock lock(m);
          cv.wait(lock, [&] { return stop || !free_buffers.empty(); });
          if (stop) return;
          buf = std::move(free_buffers.back());
          free_buffers.pop_back();
        }
        if (!buf) buf.reset(new char[window]);  // allocated on first use only
        const std::size_t n = file.read_at(at, buf.get(), want(at));
        at += n;
        std::lock_guard lock(m);
        if (n == 0) {
          at_end = true;
        } else {
          ready.push_back({std::move(buf), n});
        }
        cv.notify_all();
        if (n == 0) return;
      }
    } catch (...) {
      std::lock_guard lock(m);
      error = std::current_exception();
      cv.notify_all();
    }
  });
  // Stops and joins the I/O thread however this function is left.
  struct joiner {
    std::thread& t;
    std::mutex& m;
    std::condition_variable& cv;
    bool& stop;
    ~joiner() {
      {
        std::lock_guard lock(m);
        stop = true;
      }
      cv.notify_all();
      t.join();
    }
  } join_io{io, m, cv, stop};

  for (;;) {
    filled item;
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return !ready.empty() || at_end || error; });
      if (ready.empty()) {
        if (error) std::rethrow_exception(error);
        return;  // at end
      }
      item = std::move(ready.front());
      ready.pop_front();
    }
    on_window(static_cast<const char*>(item.data.get()), item.size);
    std::lock_guard lock(m);
    free_buffers.push_back(std::move(item.data));
    cv.notify_all();
  }
}

}  // namespace customer_analysis
