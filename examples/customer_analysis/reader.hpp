// reader.hpp - reading a file in windows, the next ones ahead of the computation.
//
// What lives here:
//   * input_file: an open file descriptor, pread with retry on EINTR, errors as file_error.
//   * file_window: one window of the file in memory, either mapped (mmap) or read into a buffer.
//   * for_each_window(): goes over [offset, end of file) in windows of a fixed size and calls a
//     function on each window, in order. With read-ahead, a dedicated I/O thread maps or reads the
//     next windows while the current one is processed; at most `windows_in_flight` windows exist
//     at once, so memory is bounded by that many windows whatever the file size.
//
// Why windows are read into buffers of huge pages by default: the cost of a window is not the
// copy but the first touch of each page it spans. On a virtual machine whose page tables the
// hypervisor shadows, every 4 KiB page a process touches for the first time costs a trip to the
// hypervisor; a mapped file (mmap, even with MAP_POPULATE) pays that per page of every window, and
// on a 116 MB file the first pass over the data took 50 ms instead of 4. A read window goes into
// one of a few reused buffers asked for as transparent huge pages (window_buffer): one such event
// per 2 MiB, once, and pread's copy on the I/O thread (about 12 ms for 116 MB) overlaps the
// parsing. Measured on that machine, the parse of the 116 MB file took about 155 ms instead of
// 175 ms. Mapping large windows is kept as an option (analyze_options::map): on a machine without
// shadowed page tables it saves the copy and a third thread's CPU time. Small windows and files
// that cannot be mapped (pipes, some file systems) are always read.
//
// The one thing a mapping cannot do as pread does: if another process truncates the file while a
// window of it is mapped, touching the lost pages raises SIGBUS. The size is checked before each
// window is mapped, so only a truncation during that window's processing can do it.
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
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "schema.hpp"  // file_error
#include <fcntl.h>
#include <sys/mman.h>
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
    regular_ = S_ISREG(st.st_mode);
    size_ = regular_ ? static_cast<std::uint64_t>(st.st_size) : 0;
  }
  input_file(const input_file&) = delete;
  input_file& operator=(const input_file&) = delete;
  ~input_file() { ::close(fd_); }

  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }  // for progress only; reading goes to end of file
  bool regular() const { return regular_; }     // a regular file: one that can be mapped
  int descriptor() const { return fd_; }

  // The size of the file now: it may have grown or shrunk since it was opened.
  std::uint64_t current_size() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail();
    return static_cast<std::uint64_t>(st.st_size);
  }

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
  bool regular_ = false;
};

// The memory a read window is read into: anonymous pages of its own mapping, asked for as
// transparent huge pages (2 MiB) where the kernel offers them. Each 4 KiB page a window touches
// for the first time costs a fault, and on a virtual machine whose page tables the hypervisor
// shadows, a first touch costs about 1.5 us more even without one: with 4 KiB pages the parse of
// a 116 MB file spent more time on that than on counting its quotes. A huge page is one such
// event per 2 MiB. Where huge pages are off or unavailable, the advice is ignored and the buffer
// is ordinary memory. A small buffer (tiny --chunk-bytes) is not worth a huge page: it gets just
// its size in ordinary pages. Not zeroed by us: pread fills what is used.
class window_buffer {
 public:
  window_buffer() = default;
  explicit window_buffer(std::size_t size) {
    constexpr std::size_t huge_page = std::size_t{2} << 20;
    if (size == 0) return;
    if (size < huge_page / 2) {
      void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) throw std::bad_alloc();
      data_ = static_cast<char*>(m);
      length_ = size;
      return;
    }
    // Large enough to hold a huge-page-aligned run of `size` bytes; the rest is given back.
    const std::size_t length = (size + huge_page - 1) / huge_page * huge_page;
    void* m = ::mmap(nullptr, length + huge_page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    auto* raw = static_cast<char*>(m);
    const auto address = reinterpret_cast<std::uintptr_t>(raw);
    char* aligned = raw + (huge_page - address % huge_page) % huge_page;
    if (aligned > raw) ::munmap(raw, static_cast<std::size_t>(aligned - raw));
    if (char* tail = aligned + length; tail < raw + length + huge_page)
      ::munmap(tail, static_cast<std::size_t>(raw + length + huge_page - tail));
#if defined(MADV_HUGEPAGE)
    ::madvise(aligned, length, MADV_HUGEPAGE);  // advice only: failure leaves 4 KiB pages
#endif
    data_ = aligned;
    length_ = length;
  }
  window_buffer(window_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), length_(std::exchange(o.length_, 0)) {}
  window_buffer& operator=(window_buffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(length_, o.length_);
    return *this;
  }
  ~window_buffer() {
    if (data_ != nullptr) ::munmap(data_, length_);
  }
  char* data() const {
    return data_;
  }
  explicit operator bool() const {
    return data_ != nullptr;
  }

 private:
  char* data_ = nullptr;
  std::size_t length_ = 0;
};

// One window of a file in memory: `size` bytes at `data`, mapped or in a buffer of its own.
class file_window {
 public:
  file_window() = default;
  file_window(file_window&& o) noexcept { swap(o); }
  file_window& operator=(file_window&& o) noexcept {
    file_window(std::move(o)).swap(*this);
    return *this;
  }
  ~file_window() {
    if (mapping_ != nullptr) ::munmap(mapping_, mapping_length_);
  }

  // Maps [offset, offset + size) of `file` with its page tables set up, or returns an empty window
  // when the file cannot be mapped (the caller reads it instead).
  static file_window map(const input_file& file, std::uint64_t offset, std::size_t size) {
    static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t start = offset - offset % page;  // mappings begin on a page boundary
    const auto length = static_cast<std::size_t>(offset - start) + size;
    void* m = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE | MAP_POPULATE, file.descriptor(),
                     static_cast<off_t>(start));
    file_window w;
    if (m == MAP_FAILED) return w;
    w.mapping_ = m;
    w.mapping_length_ = length;
    w.data_ = static_cast<const char*>(m) + (offset - start);
    w.size_ = size;
    return w;
  }
  // Reads up to `size` bytes at `offset` into `buffer` (of at least `size` bytes), which the window
  // keeps; fewer only at end of file.
  static file_window read(const input_file& file, std::uint64_t offset, std::size_t size,
                          window_buffer buffer) {
    file_window w;
    w.size_ = file.read_at(offset, buffer.data(), size);
    w.data_ = buffer.data();
    w.buffer_ = std::move(buffer);
    return w;
  }

  const char* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool mapped() const { return mapping_ != nullptr; }
  // The buffer of a window that was read, for the next read; null for a mapped one.
  window_buffer take_buffer() { return std::move(buffer_); }

 private:
  void swap(file_window& o) noexcept {
    std::swap(mapping_, o.mapping_);
    std::swap(mapping_length_, o.mapping_length_);
    std::swap(buffer_, o.buffer_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
  }
  void* mapping_ = nullptr;
  std::size_t mapping_length_ = 0;
  window_buffer buffer_;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// Windows at least this large are mapped when the file allows it (see the top of this file).
inline constexpr std::size_t smallest_mapped_window = std::size_t{256} << 10;

// Calls on_window(const char* data, std::size_t size) for consecutive windows of `window` bytes
// from `offset` to `end` or the end of the file, whichever comes first (the last window may be
// shorter), in order. `map` allows mapping large windows (the measuring aid CUSTOMER_ANALYSIS_MAP=1
// turns it on in the program).
template <class F>
void for_each_window(const input_file& file, std::uint64_t offset, std::size_t window,
                     bool read_ahead, F&& on_window, std::uint64_t end = ~std::uint64_t{0},
                     bool map = false) {
  bool mapping = map && file.regular() && window >= smallest_mapped_window;
  // Buffers of windows that were read, for the next reads. They are left uninitialised: pread
  // fills them, and zeroing them first would cost a pass over them for nothing.
  std::vector<window_buffer> free_buffers;
  // The window at `at`, empty at the end; `buffer` is reused if it is not null. Called by one
  // thread only: the I/O thread, or the caller without read-ahead.
  auto next_window = [&](std::uint64_t at, window_buffer buffer) {
    std::size_t want =
        at >= end ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(window, end - at));
    if (mapping && want > 0) {
      // Up to the file's size now. At or past it, read instead: pread, not the size, says where
      // a file ends (a file in /proc has size 0 and content, one may have grown meanwhile).
      const std::uint64_t size = file.current_size();
      if (at < size) {
        file_window w = file_window::map(
            file, at, static_cast<std::size_t>(std::min<std::uint64_t>(want, size - at)));
        if (w.mapped()) return w;
      }
      mapping = false;  // read from here on
    }
    if (want == 0) return file_window{};
    if (!buffer) buffer = window_buffer(window);  // allocated on first use only
    return file_window::read(file, at, want, std::move(buffer));
  };

  if (!read_ahead) {
    for (window_buffer buffer;;) {
      file_window w = next_window(offset, std::move(buffer));
      if (w.size() == 0) return;
      on_window(w.data(), w.size());
      offset += w.size();
      buffer = w.take_buffer();
    }
  }

  // Up to three windows at once: one being processed, up to two ahead.
  constexpr std::size_t windows_in_flight = 3;
  std::mutex m;
  std::condition_variable cv;
  std::size_t in_flight = 0;  // windows ready or being processed
  std::deque<file_window> ready;
  bool at_end = false, stop = false;
  std::exception_ptr error;

  std::thread io([&] {
    std::uint64_t at = offset;
    try {
      for (;;) {
        window_buffer buffer;
        {
          std::unique_lock lock(m);
          cv.wait(lock, [&] { return stop || in_flight < windows_in_flight; });
          if (stop) return;
          ++in_flight;
          if (!free_buffers.empty()) {
            buffer = std::move(free_buffers.back());
            free_buffers.pop_back();
          }
        }
        file_window w = next_window(at, std::move(buffer));
        const std::size_t n = w.size();
        at += n;
        std::lock_guard lock(m);
        if (n == 0) {
          at_end = true;
        } else {
          ready.push_back(std::move(w));
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
    file_window w;
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return !ready.empty() || at_end || error; });
      if (ready.empty()) {
        if (error) std::rethrow_exception(error);
        return;  // at end
      }
      w = std::move(ready.front());
      ready.pop_front();
    }
    on_window(w.data(), w.size());
    window_buffer buffer = w.take_buffer();
    w = file_window{};  // unmapped before the next window is mapped: memory stays bounded
    std::lock_guard lock(m);
    if (buffer) free_buffers.push_back(std::move(buffer));
    --in_flight;
    cv.notify_all();
  }
}

}  // namespace customer_analysis
