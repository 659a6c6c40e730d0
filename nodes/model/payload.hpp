#pragma once
// A request message's bytes, owned. Large ones live in pages of their own (mmap), not in the heap:
// a burst of them (a flood fills the intake with up to PROXY_INTAKE_LIMIT of 64 KiB each) gives its
// memory back to the system as each one is read, where glibc would keep the heap it grew for them,
// fragmented by whatever was allocated in between (measured: several MB held after a flood).

#include <cstddef>
#include <string>
#include <string_view>

namespace pp {

class Payload {
 public:
  static constexpr std::size_t kMapped = 16 * 1024;  // and larger: pages of their own

  Payload() = default;
  // Implicit, as std::string's: Incoming{topic, "…"} reads as it did.
  Payload(std::string_view bytes);   // NOLINT(google-explicit-constructor)
  Payload(const std::string& bytes)  // NOLINT(google-explicit-constructor)
      : Payload(std::string_view(bytes)) {}
  Payload(const char* bytes) : Payload(std::string_view(bytes)) {}  // NOLINT
  ~Payload();
  Payload(const Payload& other) : Payload(other.view()) {}
  Payload& operator=(const Payload& other);
  Payload(Payload&& other) noexcept;
  Payload& operator=(Payload&& other) noexcept;

  std::string_view view() const { return mapped_ ? std::string_view(mapped_, size_) : small_; }
  std::size_t size() const { return view().size(); }

 private:
  void release() noexcept;

  std::string small_;
  char* mapped_ = nullptr;
  std::size_t size_ = 0;  // of mapped_
};

}  // namespace pp
