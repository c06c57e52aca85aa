// src/plan_cache.hpp — the last few plans (frequencies and the like, derived from a config) a thread
// built, so that a call at decode size (one token) does not rebuild them. Building is the expensive part
// there: the exact double-double frequencies of a d = 4096 sinusoidal config cost ~750 us, the row itself
// ~1 us (BENCHMARKS.md, "Per-call overhead at decode size").
//
// One cache per use site and thread (declare it thread_local). Plans are immutable and handed out as
// shared_ptr<const Plan>: a caller keeps its plan alive even if a later lookup on the same thread evicts
// it. The least recently used entry is replaced (a lookup that hits moves its entry to the front), so
// that a config used at every step (the model's RoPE) stays while others come and go. Key needs
// operator==.
#pragma once

#include <algorithm>
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
    const auto first = entries_.begin();
    for (auto it = first; it != entries_.end(); ++it)
      if (*it && (*it)->first == key) {
        std::rotate(first, it, it + 1);  // most recently used first
        return (*first)->second;
      }
    auto plan = std::make_shared<const Plan>(std::forward<Make>(make)());
    std::rotate(first, entries_.end() - 1, entries_.end());  // the least recently used, now first, goes
    *first = std::pair<Key, std::shared_ptr<const Plan>>(key, plan);
    return plan;
  }

 private:
  std::array<std::optional<std::pair<Key, std::shared_ptr<const Plan>>>, N> entries_{};  // by last use
};

}  // namespace posenc::detail
