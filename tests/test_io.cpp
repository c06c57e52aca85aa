// posenc::io: atomic output files (io/atomic_file.hpp) and path checks (io/paths.hpp), the one output
// policy of the CLI, the pipeline and the model's checkpoints. Each test looks at the file system after
// the call: contents, what else is in the directory (no temporaries), links and devices left as they were.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "io/atomic_file.hpp"
#include "io/paths.hpp"

namespace fs = std::filesystem;
namespace pio = posenc::io;

namespace {

class IoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("posenc_test_io_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
    return names;
  }
  static std::string contents(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void put(const std::string& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  }

  fs::path dir_;
};

// The message of what `f` throws; "" when it throws nothing.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

TEST_F(IoTest, WriteFileAtomicCreatesTheFileAndNothingElse) {
  const std::string p = path("out.bin");
  std::string bytes(3 << 20, '\0');  // past ByteSink's buffer
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 + 1);
  pio::write_file_atomic(p, bytes);
  EXPECT_EQ(contents(p), bytes);
  EXPECT_EQ(entries(), (std::set<std::string>{"out.bin"}));
  // 0666 & ~umask, as a file created by any program.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(fs::status(p).permissions(), static_cast<fs::perms>(0666 & ~mask));
}

TEST_F(IoTest, SmallAndLargeWritesKeepTheirOrder) {
  const std::string p = path("mixed.txt");
  std::string expected;
  {
    pio::AtomicFile f(p);
    for (int i = 0; i < 50; ++i) {
      const std::string small = "row " + std::to_string(i) + "\n";
      const std::string large(size_t{300000} * static_cast<size_t>(i % 3 == 0),
                              static_cast<char>('a' + i % 26));
      f.write(small);
      f.write(large);
      expected += small + large;
    }
    f.commit();
  }
  EXPECT_EQ(contents(p), expected);
}

TEST_F(IoTest, UncommittedFileLeavesTheOldOneAndNoTemporary) {
  const std::string p = path("keep.txt");
  put(p, "OLD\n");
  {
    pio::AtomicFile f(p);
    f.write(std::string(5 << 20, 'x'));
    EXPECT_EQ(entries().size(), 2u) << "the temporary lives beside the target until commit";
  }  // an exception unwinding: no commit
  EXPECT_EQ(contents(p), "OLD\n");
  EXPECT_EQ(entries(), (std::set<std::string>{"keep.txt"}));
}

TEST_F(IoTest, PendingTemporariesAreRemovedOnRequest) {
  // What the SIGINT/SIGTERM handler and PLplot's exit hook call.
  pio::AtomicFile f(path("a.txt"));
  f.write("partial");
  ASSERT_EQ(entries().size(), 1u);
  pio::remove_pending_temporaries();
  EXPECT_TRUE(entries().empty());
}

TEST_F(IoTest, SymlinksAreFollowedAndStay) {
  put(path("real.txt"), "OLD\n");
  fs::create_symlink("real.txt", path("link.txt"));
  pio::write_file_atomic(path("link.txt"), "NEW\n");
  EXPECT_TRUE(fs::is_symlink(path("link.txt")));
  EXPECT_EQ(contents(path("real.txt")), "NEW\n");
  // A link to a file not there yet (a chain of two links): the file is created where it points.
  fs::create_symlink("dangling2.txt", path("dangling1.txt"));
  fs::create_symlink("made.txt", path("dangling2.txt"));
  pio::write_file_atomic(path("dangling1.txt"), "MADE\n");
  EXPECT_TRUE(fs::is_symlink(path("dangling1.txt")) && fs::is_symlink(path("dangling2.txt")));
  EXPECT_EQ(contents(path("made.txt")), "MADE\n");
  EXPECT_EQ(entries(),
            (std::set<std::string>{"real.txt", "link.txt", "dangling1.txt", "dangling2.txt", "made.txt"}));
}

TEST_F(IoTest, BadTargetsAreIoErrorsNamingPathAndReason) {
  const std::string sub = path("sub");
  fs::create_directories(sub);
  const std::string msg = message_of<pio::IoError>([&] { pio::write_file_atomic(sub, "x"); });
  EXPECT_EQ(msg, "cannot write '" + sub + "': it is a directory");
  const std::string missing = path("nodir/x.txt");
  const std::string msg2 = message_of<pio::IoError>([&] { pio::write_file_atomic(missing, "x"); });
  EXPECT_NE(msg2.find("'" + missing + "'"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("No such file or directory"), std::string::npos) << msg2;
  EXPECT_EQ(message_of<pio::IoError>([&] { pio::write_file_atomic("", "x"); }),
            "cannot write '': the path is empty");
  // An IoError is a posenc::Error: code that catches the library's one error type catches it too.
  try {
    pio::write_file_atomic(sub, "x");
    FAIL() << "no error";
  } catch (const posenc::Error& e) {
    EXPECT_EQ(e.where(), "posenc::io");
    EXPECT_EQ(e.value(), "'" + sub + "'");
    EXPECT_EQ(e.allowed(), "it is a directory");
  }
  EXPECT_EQ(entries(), (std::set<std::string>{"sub"}));
}

TEST_F(IoTest, DevicesAreWrittenInPlace) {
  if (!fs::exists("/dev/null") || !fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/null or /dev/full";
  pio::write_file_atomic("/dev/null", std::string(1 << 20, 'x'));
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  const std::string msg = message_of<pio::IoError>([] { pio::write_file_atomic("/dev/full", "x"); });
  EXPECT_NE(msg.find("cannot write '/dev/full'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No space left"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
}

TEST_F(IoTest, PathWritersToADeviceAreStagedAndCheckedOnCommit) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  ::setenv("TMPDIR", dir_.c_str(), 1);
  std::string staged;
  const std::string msg = message_of<pio::IoError>([&] {
    pio::AtomicFile f("/dev/full");
    staged = f.temp_path();  // what PLplot writes to, by path
    put(staged, "a picture");
    f.commit();
  });
  ::unsetenv("TMPDIR");
  EXPECT_EQ(fs::path(staged).parent_path(), dir_);
  EXPECT_NE(msg.find("No space left"), std::string::npos) << msg;
  EXPECT_TRUE(entries().empty()) << "the staging file stayed behind";
}

TEST_F(IoTest, DistinctPathsByAnySpelling) {
  put(path("a.txt"), "a");
  fs::create_symlink("a.txt", path("alias.txt"));
  const std::string a = path("a.txt");
  const std::string dotted = (dir_ / "." / "sub" / ".." / "a.txt").string();  // sub does not exist
  const std::string msg = message_of<posenc::Error>([&] {
    pio::check_distinct_paths({{"--config", a}, {"--out", path("b.txt")}, {"--plot", path("alias.txt")}});
  });
  EXPECT_EQ(msg, "posenc::io: --plot = '" + path("alias.txt") +
                     "' is invalid (allowed: a file other than --config '" + a + "')");
  EXPECT_FALSE(message_of<posenc::Error>([&] {
                 pio::check_distinct_paths({{"--out", a}, {"--plot", dotted}});
               }).empty());
  // Files not there yet, spelled differently.
  EXPECT_FALSE(
      message_of<posenc::Error>([&] {
        pio::check_distinct_paths({{"--out", path("new.txt")}, {"--plot", (dir_ / "./new.txt").string()}});
      }).empty());
  // Different files, empty (not given) paths, and a device named twice are fine.
  EXPECT_NO_THROW(
      pio::check_distinct_paths({{"--out", a}, {"--plot", path("b.txt")}, {"--x", ""}, {"--y", ""}}));
  EXPECT_NO_THROW(pio::check_distinct_paths({{"--out", "/dev/null"}, {"--plot", "/dev/null"}}));
  EXPECT_TRUE(pio::same_file(a, path("alias.txt")));
  EXPECT_FALSE(pio::same_file(a, path("b.txt")));
  // Relative spellings of a file not there yet (CLI audit: "y.json" and "./y.json" passed as two files,
  // and the plot replaced the table).
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  const bool relative = pio::same_file("y.json", "./y.json");
  const bool relative_up = pio::same_file("y.json", "nosuch/../y.json");
  const bool other = pio::same_file("y.json", "z.json");
  fs::current_path(cwd);
  EXPECT_TRUE(relative);
  EXPECT_TRUE(relative_up);
  EXPECT_FALSE(other);
}

TEST_F(IoTest, ReadFileNamesWhatItReads) {
  put(path("in.txt"), std::string("a\0b", 3));
  EXPECT_EQ(pio::read_file(path("in.txt")), std::string("a\0b", 3));
  const std::string missing = path("missing.txt");
  EXPECT_EQ(message_of<pio::IoError>([&] { pio::read_file(missing, "--data"); }),
            "cannot read --data '" + missing + "': No such file or directory");
  EXPECT_EQ(message_of<pio::IoError>([&] { pio::read_file(dir_.string(), "checkpoint"); }),
            "cannot read checkpoint '" + dir_.string() + "': it is a directory");
  // A device never ends (CLI audit: --checkpoint /dev/zero read until memory ran out).
  EXPECT_EQ(message_of<pio::IoError>([&] { pio::read_file("/dev/zero", "checkpoint"); }),
            "cannot read checkpoint '/dev/zero': it is a device, not a file");
}

TEST_F(IoTest, WritablePathChecksComeBeforeTheRun) {
  EXPECT_NO_THROW(pio::check_writable_path(path("new.pt"), "checkpoint"));
  EXPECT_EQ(message_of<posenc::Error>([&] { pio::check_writable_path(dir_.string(), "checkpoint"); }),
            "posenc::io: checkpoint = '" + dir_.string() +
                "' is invalid (allowed: a file path (it is a directory))");
  const std::string orphan = path("none/x.pt");
  EXPECT_NE(message_of<posenc::Error>([&] {
              pio::check_writable_path(orphan, "metrics_csv");
            }).find("does not exist"),
            std::string::npos);
}

}  // namespace
