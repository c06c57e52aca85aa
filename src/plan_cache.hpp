// src/plan_cache.hpp — the last few plans (frequencies and the like, derived from a config) a thread
// built, so that a call at decode size (one token) does not rebuild them. Building is the expensive part
// there: the exact double-double frequencies of a d = 4096 sinusoidal config cost ~750 us, the row itself
// ~1 us (BENCHMARKS.md, "Per-call overhead at decode size").
//
// One cache per use site and thread (declare it thread_local). Plans are immutable and handed out as
// shared_ptr<const Plan>: a caller keeps its plan alive even if a later lookup on the same thread evicts
// it. Entries are replaced first in, first out. Key needs operator==.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

namespace posenc::detail {

template <class Key, class Plan, size_t N = 4>
class PlanCache {
 public:
  // The plan stored for key, or make() (a Plan) stored and returned. If make() throws, nothing is stored.
  template <class Make>
  std::shared_ptr<const Plan> get(const Key& key, Make&& make) {
    for (const auto& e : entries_)
      if (e && e->first == key) return e->second;
    auto plan = std::make_shared<const Plan>(std::forward<Make>(make)());
    entries_[next_] = std::pair<Key, std::shared_ptr<const Plan>>(key, plan);
    next_ = (next_ + 1) % N;
    return plan;
  }

 private:
  std::array<std::optional<std::pair<Key, std::shared_ptr<const Plan>>>, N> entries_{};
  size_t next_ = 0;
};

}  // namespace posenc::detail
