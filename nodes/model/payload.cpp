#include "nodes/model/payload.hpp"

#include <sys/mman.h>

#include <cstring>
#include <utility>

namespace pp {

Payload::Payload(std::string_view bytes) {
  if (bytes.size() >= kMapped) {
    void* pages =
        ::mmap(nullptr, bytes.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages != MAP_FAILED) {
      mapped_ = static_cast<char*>(pages);
      size_ = bytes.size();
      std::memcpy(mapped_, bytes.data(), size_);
      return;
    }
  }
  small_.assign(bytes);  // small, or the mapping failed: the heap it is
}

Payload::~Payload() {
  release();
}

void Payload::release() noexcept {
  if (mapped_) ::munmap(mapped_, size_);
  mapped_ = nullptr;
  size_ = 0;
}

Payload& Payload::operator=(const Payload& other) {
  if (this != &other) *this = Payload(other.view());
  return *this;
}

Payload::Payload(Payload&& other) noexcept
    : small_(std::move(other.small_)),
      mapped_(std::exchange(other.mapped_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

Payload& Payload::operator=(Payload&& other) noexcept {
  if (this != &other) {
    release();
    small_ = std::move(other.small_);
    mapped_ = std::exchange(other.mapped_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace pp
