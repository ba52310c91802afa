// weft/controls.hpp
//
// Stopping and watching long work. Every primitive takes an optional trailing `const controls&`:
//
//   std::stop_source stop;
//   weft::controls ctl{.stop = stop.get_token(),
//                      .progress = [](std::size_t done, std::size_t total) { /* draw a bar */ }};
//   if (weft::parallel_for(pool, 0, n, body, ctl) == weft::status::stopped) { /* ... */ }
//
// Once a stop is requested no new chunk starts; chunks already running finish, and the primitive
// returns normally, saying so: parallel_for and the scans return weft::status, parallel_map and
// parallel_reduce an empty std::optional. A stop requested after the last chunk started changes
// nothing: the work is complete and is returned as such.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <stop_token>

namespace weft {

struct controls {
  // No new chunk starts once a stop is requested.
  std::stop_token stop{};
  // Called with (indices done, indices in all) from whichever thread finished a chunk, never by
  // two threads at once, at most once per `progress_interval`, and once more with done == total
  // when the work completes. Without it, progress costs nothing.
  std::function<void(std::size_t done, std::size_t total)> progress{};
  std::chrono::milliseconds progress_interval{50};
};

enum class status { completed, stopped };

}  // namespace weft
