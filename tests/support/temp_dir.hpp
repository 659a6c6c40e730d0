// A temporary directory for a test, with no dependency beyond the standard library: unit tests
// link it alone, the integration tests' support library with the rest.
#pragma once

#include <string>
#include <string_view>

namespace pp::test {

// A directory made with mkdtemp under TMPDIR (else /tmp), never under HOME, and removed
// recursively on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "pp-test-");
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  void remove() noexcept;
  std::string path_;
};

}  // namespace pp::test
