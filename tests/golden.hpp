// tests/golden.hpp — the Hugging Face reference vectors (../shared/golden/hf_reference.json; see that
// folder's README), for the tests that compare against them.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace posenc::test {

// $POSENC_GOLDEN_DIR/hf_reference.json if the variable is set, else the compile definition's folder.
inline std::string golden_path() {
  const char* env = std::getenv("POSENC_GOLDEN_DIR");
  return std::string(env != nullptr && *env != '\0' ? env : POSENC_GOLDEN_DIR) + "/hf_reference.json";
}

// The cases of one kind ("alibi", "t5_bucket", ...). A missing file or kind fails the test (never a
// skip: a missing reference would silently test nothing).
inline std::vector<nlohmann::json> golden_cases(const char* kind) {
  std::ifstream in(golden_path());
  std::vector<nlohmann::json> out;
  if (!in) {
    ADD_FAILURE() << "cannot open " << golden_path() << " (set POSENC_GOLDEN_DIR)";
    return out;
  }
  try {
    const nlohmann::json all = nlohmann::json::parse(in);  // named: cases must outlive the loop
    for (const auto& c : all.at("cases"))
      if (c.at("kind").get<std::string>() == kind) out.push_back(c);
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << golden_path() << " is not the reference file described in its README: " << e.what();
    return {};
  }
  EXPECT_FALSE(out.empty()) << golden_path() << " holds no case of kind " << kind;
  return out;
}

}  // namespace posenc::test
