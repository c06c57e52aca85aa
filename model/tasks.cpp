// model/tasks.cpp — the built-in tasks and the language-modelling task (model/tasks.hpp).
#include "model/tasks.hpp"

#include <algorithm>
#include <string>

#include "posenc/error.hpp"

namespace posenc::model {

namespace {

// Evaluation batches need at least one sequence each (a batch of 0 looped for ever).
void check_batches(int64_t batch, int64_t max_sequences) {
  if (batch < 1) throw Error("posenc::model::Task::eval_batches", "batch", std::to_string(batch), ">= 1");
  if (max_sequences < 1)
    throw Error("posenc::model::Task::eval_batches", "max_sequences", std::to_string(max_sequences), ">= 1");
}

constexpr int64_t kPad = 0, kBos = 1, kSep = 2, kFirstSymbol = 3;
constexpr int64_t kIgnore = -100;
constexpr const char* kTaskNames[] = {"copy", "reverse", "sort", "lm"};

class SyntheticTask final : public Task {
 public:
  SyntheticTask(TaskKind k, int64_t symbols) : kind_(k), symbols_(symbols) {}
  TaskKind kind() const override { return kind_; }
  int64_t vocab_size() const override { return kFirstSymbol + symbols_; }
  int64_t input_length(int64_t len) const override {  // saturated: lengths past kMaxLen are refused later
    return 2 * std::clamp<int64_t>(len, 0, kMaxLen + 1) + 1;
  }

  Batch train_batch(int64_t batch, int64_t train_len, std::mt19937_64& rng) const override {
    check_len("train_len", train_len);
    std::vector<int64_t> lens(static_cast<size_t>(batch));
    for (auto& n : lens) n = std::uniform_int_distribution<int64_t>(1, train_len)(rng);
    return make(lens, rng);
  }

  std::vector<Batch> eval_batches(int64_t len, int64_t batch, int64_t max_sequences,
                                  uint64_t seed) const override {
    check_len("eval length", len);
    check_batches(batch, max_sequences);
    std::mt19937_64 rng(seed * 1000003ull + static_cast<uint64_t>(len));
    std::vector<Batch> out;
    for (int64_t done = 0; done < max_sequences; done += batch) {
      const int64_t b = std::min(batch, max_sequences - done);
      out.push_back(make(std::vector<int64_t>(static_cast<size_t>(b), len), rng));
    }
    return out;
  }

  int64_t eval_sequences(int64_t len, int64_t max_sequences) const override {
    check_len("eval length", len);
    return max_sequences;
  }

  std::pair<int64_t, int64_t> order_span(int64_t len) const override { return {1, 1 + len}; }

  std::string describe(const at::Tensor& ids) const override {
    std::string s;
    const auto a = ids.accessor<int64_t, 1>();
    for (int64_t i = 0; i < ids.size(0); ++i) {
      const int64_t v = a[i];
      if (!s.empty()) s += ' ';
      s += v == kPad ? "_" : v == kBos ? "<s>" : v == kSep ? "|" : std::to_string(v - kFirstSymbol);
    }
    return s;
  }

 private:
  void check_len(const char* what, int64_t n) const {
    // The input of 2n + 1 tokens must be countable (a length of 2^63 - 1 overflowed it).
    if (n < 1 || n > kMaxLen)
      throw Error("posenc::model::Task", what, std::to_string(n), "1 .. " + std::to_string(kMaxLen));
  }
  static constexpr int64_t kMaxLen = int64_t{1} << 30;
  Batch make(const std::vector<int64_t>& lens, std::mt19937_64& rng) const {
    const int64_t B = static_cast<int64_t>(lens.size());
    const int64_t T = 2 * *std::max_element(lens.begin(), lens.end()) + 1;
    at::Tensor input = at::full({B, T}, kPad, at::kLong), target = at::full({B, T}, kIgnore, at::kLong);
    auto in = input.accessor<int64_t, 2>();
    auto tg = target.accessor<int64_t, 2>();
    std::uniform_int_distribution<int64_t> sym(0, symbols_ - 1);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = lens[static_cast<size_t>(b)];
      std::vector<int64_t> x(static_cast<size_t>(n));
      for (auto& v : x) v = kFirstSymbol + sym(rng);
      std::vector<int64_t> y = x;
      if (kind_ == TaskKind::Reverse) std::reverse(y.begin(), y.end());
      if (kind_ == TaskKind::Sort) std::sort(y.begin(), y.end());
      std::vector<int64_t> s;
      s.push_back(kBos);
      s.insert(s.end(), x.begin(), x.end());
      s.push_back(kSep);
      s.insert(s.end(), y.begin(), y.end());
      for (int64_t i = 0; i < 2 * n + 1; ++i) {
        in[b][i] = s[static_cast<size_t>(i)];
        if (i >= n + 1) tg[b][i] = s[static_cast<size_t>(i + 1)];
      }
    }
    return {input, target};
  }

  TaskKind kind_;
  int64_t symbols_;
};

class LmTask final : public Task {
 public:
  LmTask(std::vector<int64_t> tokens, int64_t vocab) : vocab_(vocab) {
    const size_t split = tokens.size() * 9 / 10;
    train_.assign(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(split));
    valid_.assign(tokens.begin() + static_cast<std::ptrdiff_t>(split), tokens.end());
  }
  TaskKind kind() const override { return TaskKind::Lm; }
  int64_t vocab_size() const override { return vocab_; }
  int64_t input_length(int64_t len) const override { return len; }

  Batch train_batch(int64_t batch, int64_t len, std::mt19937_64& rng) const override {
    const int64_t n = static_cast<int64_t>(train_.size());
    if (len < 1 || len + 1 > n)
      throw Error(
          "posenc::model::LmTask", "train length", std::to_string(len),
          "1 .. " + std::to_string(n - 1) + " (the training split has " + std::to_string(n) + " tokens)");
    at::Tensor input = at::empty({batch, len}, at::kLong), target = at::empty({batch, len}, at::kLong);
    auto in = input.accessor<int64_t, 2>();
    auto tg = target.accessor<int64_t, 2>();
    std::uniform_int_distribution<int64_t> start(0, n - len - 1);
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t s = start(rng);
      for (int64_t i = 0; i < len; ++i) {
        in[b][i] = train_[static_cast<size_t>(s + i)];
        tg[b][i] = train_[static_cast<size_t>(s + i + 1)];
      }
    }
    return {input, target};
  }

  int64_t eval_sequences(int64_t len, int64_t max_sequences) const override {
    const int64_t n = static_cast<int64_t>(valid_.size());
    if (len < 1 || len + 1 > n)
      throw Error(
          "posenc::model::LmTask", "eval length", std::to_string(len),
          "1 .. " + std::to_string(n - 1) + " (the validation split has " + std::to_string(n) + " tokens)");
    return std::min((n - 1) / len, max_sequences);
  }

  std::pair<int64_t, int64_t> order_span(int64_t len) const override { return {0, len / 2}; }

  std::vector<Batch> eval_batches(int64_t len, int64_t batch, int64_t max_sequences,
                                  uint64_t) const override {
    check_batches(batch, max_sequences);
    const int64_t windows = eval_sequences(len, max_sequences);
    std::vector<Batch> out;
    for (int64_t w0 = 0; w0 < windows; w0 += batch) {
      const int64_t b = std::min(batch, windows - w0);
      at::Tensor input = at::empty({b, len}, at::kLong), target = at::empty({b, len}, at::kLong);
      auto in = input.accessor<int64_t, 2>();
      auto tg = target.accessor<int64_t, 2>();
      for (int64_t i = 0; i < b; ++i)
        for (int64_t t = 0; t < len; ++t) {
          const int64_t s = (w0 + i) * len + t;
          in[i][t] = valid_[static_cast<size_t>(s)];
          tg[i][t] = valid_[static_cast<size_t>(s + 1)];
        }
      out.push_back({input, target});
    }
    return out;
  }

 private:
  int64_t vocab_;
  std::vector<int64_t> train_, valid_;
};
}  // namespace

const char* to_string(TaskKind k) {
  return kTaskNames[static_cast<int>(k)];
}
TaskKind parse_task_kind(std::string_view s) {
  for (int i = 0; i < 4; ++i)
    if (s == kTaskNames[i]) return static_cast<TaskKind>(i);
  throw Error("posenc::model", "task", "'" + std::string(s) + "'", "copy, reverse, sort, lm");
}

std::string Task::describe(const at::Tensor& ids) const {
  std::string s;
  const at::Tensor c = ids.contiguous();
  for (int64_t i = 0; i < c.size(0); ++i) {
    if (i) s += ' ';
    s += std::to_string(c[i].item<int64_t>());
  }
  return s;
}

std::unique_ptr<Task> make_synthetic_task(TaskKind kind, int64_t symbols) {
  if (kind == TaskKind::Lm)
    throw Error("posenc::model::make_synthetic_task", "kind", "lm", "copy, reverse, sort");
  if (symbols < 2)
    throw Error("posenc::model::make_synthetic_task", "symbols", std::to_string(symbols), ">= 2");
  return std::make_unique<SyntheticTask>(kind, symbols);
}

std::unique_ptr<Task> make_lm_task(std::vector<int64_t> tokens, int64_t vocab_size) {
  if (tokens.size() < 20)
    throw Error("posenc::model::make_lm_task", "tokens", std::to_string(tokens.size()) + " tokens",
                "at least 20 tokens (the text is too short to split 90/10)");
  return std::make_unique<LmTask>(std::move(tokens), vocab_size);
}

}  // namespace posenc::model
