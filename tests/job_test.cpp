// Tests of weft::detail::job_cache, the per-participant free lists behind heap jobs: blocks come
// back to the cache they were made by, whoever frees them, and a burst is given back once idle.
#include <weft/thread_pool.hpp>

#include <cstddef>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using weft::detail::job_block;
using weft::detail::job_cache;

constexpr std::size_t block_bytes = 64;

// Acts as participant `p` on this thread for as long as it lives.
struct acting_as {
  explicit acting_as(weft::detail::participant& p) : previous(weft::detail::current_participant) {
    weft::detail::current_participant = &p;
  }
  ~acting_as() { weft::detail::current_participant = previous; }
  weft::detail::participant* previous;
};

}  // namespace

TEST_CASE("a job cache reuses blocks freed by its owner and by other threads, newest first") {
  weft::detail::participant owner;
  owner.caches.set_owner(&owner);
  job_cache& cache = owner.caches.by_size[0];
  acting_as me(owner);

  job_block* a = cache.allocate(block_bytes);
  job_block* b = cache.allocate(block_bytes);
  CHECK(a != b);
  CHECK(a->home == &cache);
  CHECK(cache.owned() == 2);

  job_cache::release(a);  // by the owner: onto the local list
  CHECK(cache.allocate(block_bytes) == a);

  std::thread other([&] { job_cache::release(b); });  // by another thread: the returned stack
  other.join();
  CHECK(cache.allocate(block_bytes) == b);
  CHECK(cache.owned() == 2);

  job_cache::release(a);
  job_cache::release(b);
}

TEST_CASE(
    "a job cache keeps the blocks of a burst while working and gives back all but `keep` "
    "when trimmed") {
  weft::detail::participant owner;
  owner.caches.set_owner(&owner);
  job_cache& cache = owner.caches.by_size[1];
  acting_as me(owner);

  const std::size_t burst = 3 * job_cache::keep;
  std::vector<job_block*> blocks;
  for (std::size_t i = 0; i < burst; ++i) blocks.push_back(cache.allocate(block_bytes * 2));
  CHECK(cache.owned() == burst);

  // Half come back through the owner, half through another thread.
  for (std::size_t i = 0; i < burst / 2; ++i) job_cache::release(blocks[i]);
  std::thread other([&] {
    for (std::size_t i = burst / 2; i < burst; ++i) job_cache::release(blocks[i]);
  });
  other.join();
  CHECK(cache.owned() == burst);  // nothing was freed on the way back

  // Reused while working: another burst of the same size makes no new block.
  for (std::size_t i = 0; i < burst; ++i) blocks[i] = cache.allocate(block_bytes * 2);
  CHECK(cache.owned() == burst);
  for (job_block* block : blocks) job_cache::release(block);

  cache.trim();
  CHECK(cache.owned() == job_cache::keep);
  cache.trim();  // nothing more to give back
  CHECK(cache.owned() == job_cache::keep);

  // What is left is still used: `keep` allocations make nothing new, the next one does.
  blocks.clear();
  for (std::size_t i = 0; i < job_cache::keep; ++i)
    blocks.push_back(cache.allocate(block_bytes * 2));
  CHECK(cache.owned() == job_cache::keep);
  blocks.push_back(cache.allocate(block_bytes * 2));
  CHECK(cache.owned() == job_cache::keep + 1);
  for (job_block* block : blocks) job_cache::release(block);

  // A burst that comes back only through other threads is given back from the returned stack.
  blocks.clear();
  for (std::size_t i = 0; i < burst; ++i) blocks.push_back(cache.allocate(block_bytes * 2));
  std::thread returner([&] {
    for (job_block* block : blocks) job_cache::release(block);
  });
  returner.join();
  cache.trim();
  CHECK(cache.owned() == job_cache::keep);
  for (std::size_t i = 0; i < job_cache::keep; ++i) blocks[i] = cache.allocate(block_bytes * 2);
  CHECK(cache.owned() == job_cache::keep);  // the blocks kept are those returned, reused
  for (std::size_t i = 0; i < job_cache::keep; ++i) job_cache::release(blocks[i]);
}
