#include "nodes/store/layer_unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "nodes/clients/oci/digest.hpp"

namespace pp {

namespace {

constexpr std::size_t kBlock = 256 * 1024;
// How many of a layer's other files a "no .wasm file" error names.
constexpr std::size_t kNamesShown = 5;

Error no_module(const oci::Descriptor& layer, const std::string& why) {
  return Error{errc::no_wasm_layer, "layer " + layer.digest + " " + why};
}

std::optional<Error> verify_layer(const SpoolFile& file, const oci::Descriptor& layer) {
  oci::Hasher hasher = oci::Hasher::for_digest(layer.digest);
  std::vector<char> block(kBlock);
  std::uint64_t offset = 0;
  for (;;) {
    const ssize_t got = file.read_at(offset, block.data(), block.size());
    if (got < 0) {
      return Error{errc::proxy_error,
                   std::string("cannot read back the spooled layer: ") + std::strerror(errno)};
    }
    if (got == 0) break;
    hasher.update({block.data(), static_cast<std::size_t>(got)});
    offset += static_cast<std::uint64_t>(got);
  }
  const std::string actual = hasher.finish_digest();
  if (actual != layer.digest) {
    return Error{errc::digest_mismatch,
                 "layer content hashes to " + actual + ", the manifest says " + layer.digest};
  }
  return std::nullopt;
}

bool starts_with_magic(const SpoolFile& file) {
  std::array<char, 4> head{};
  return file.read_at(0, head.data(), head.size()) == 4 &&
         std::string_view(head.data(), head.size()) == wasm_magic;
}

bool is_wasm_entry(archive_entry* entry) {
  if (archive_entry_filetype(entry) != AE_IFREG) return false;
  const char* raw = archive_entry_pathname(entry);
  const std::string_view path = raw ? raw : "";
  const std::string_view base = path.substr(path.rfind('/') + 1);
  return base.size() > 5 && base.ends_with(".wasm") && !base.starts_with(".wh.");
}

std::string packaging_of(archive* a) {
  switch (archive_filter_code(a, 0)) {
    case ARCHIVE_FILTER_NONE:
      return "tar";
    case ARCHIVE_FILTER_GZIP:
      return "tar+gzip";
    case ARCHIVE_FILTER_ZSTD:
      return "tar+zstd";
    default:
      return std::string("tar+") + archive_filter_name(a, 0);
  }
}

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

class Unpacker {
 public:
  Unpacker(const oci::Descriptor& layer, const std::string& spool_dir, std::uint64_t max_size)
      : layer_(layer), spool_dir_(spool_dir), max_size_(max_size) {}

  Expected<UnpackedModule> run(int fd) {
    std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
    archive_read_support_filter_all(a.get());
    archive_read_support_format_tar(a.get());
    // libarchive reads the first block when it opens the archive, so either step may be the one
    // that finds the bytes are not an archive.
    archive_entry* entry = nullptr;
    int status = ARCHIVE_FATAL;
    if (::lseek(fd, 0, SEEK_SET) == 0 && archive_read_open_fd(a.get(), fd, kBlock) == ARCHIVE_OK) {
      status = archive_read_next_header(a.get(), &entry);
    }
    if (status < ARCHIVE_WARN) {
      return no_module(layer_,
                       "is neither a wasm module (no \\0asm magic) nor a readable tar archive (" +
                           message(a.get()) + ")");
    }
    const std::string packaging = packaging_of(a.get());
    for (; status != ARCHIVE_EOF; status = archive_read_next_header(a.get(), &entry)) {
      if (status < ARCHIVE_WARN) return damaged(packaging, a.get());
      if (auto error = take(a.get(), entry, packaging)) return *error;
    }
    if (wasm_paths_.empty()) {
      std::string listing;
      for (const auto& name : other_paths_)
        listing += (listing.empty() ? "" : ", ") + name;
      if (others_ > other_paths_.size()) listing += ", ...";
      return no_module(layer_, "(" + packaging + ") has no .wasm file" +
                                   (listing.empty() ? "" : " (it has " + listing + ")"));
    }
    if (wasm_paths_.size() > 1) {
      std::string listing;
      for (const auto& name : wasm_paths_)
        listing += (listing.empty() ? "" : ", ") + name;
      return no_module(layer_,
                       "(" + packaging + ") has " + std::to_string(wasm_paths_.size()) +
                           " .wasm files, which one is the module is ambiguous: " + listing);
    }
    if (!starts_with_magic(*module_)) {
      return no_module(layer_, "(" + packaging + "): " + wasm_paths_.front() +
                                   " is not a wasm module (no \\0asm magic)");
    }
    return UnpackedModule{
        module_,
        oci::Descriptor{"application/wasm", module_digest_, module_->size()},
        packaging,
        wasm_paths_.front(),
    };
  }

 private:
  static std::string message(archive* a) {
    const char* text = archive_error_string(a);
    return text ? text : "unknown error";
  }

  Error damaged(const std::string& packaging, archive* a) const {
    return no_module(layer_, "(" + packaging + ") is a damaged archive: " + message(a));
  }

  // The archive's whole unpacked stream is bounded too: a layer of junk around a small module
  // must not cost unbounded CPU.
  std::optional<Error> check_unpacked(archive* a) const {
    if (archive_filter_bytes(a, 0) <= static_cast<la_int64_t>(2 * max_size_)) return std::nullopt;
    return Error{errc::too_large, "layer " + layer_.digest + " unpacks to more than " +
                                      std::to_string(2 * max_size_) +
                                      " bytes (twice PROXY_MAX_BLOB_SIZE)"};
  }

  std::optional<Error> take(archive* a, archive_entry* entry, const std::string& packaging) {
    const char* raw = archive_entry_pathname(entry);
    const std::string path = raw ? raw : "";
    if (!is_wasm_entry(entry)) {
      ++others_;
      if (other_paths_.size() < kNamesShown) other_paths_.push_back(path);
      return skip(a, packaging);
    }
    wasm_paths_.push_back(path);
    if (wasm_paths_.size() > 1) return skip(a, packaging);  // counted, for the error
    auto file = SpoolFile::create(spool_dir_);
    if (!file) return file.error();
    module_ = std::move(file).value();
    oci::Hasher hasher;
    std::vector<char> block(kBlock);
    for (;;) {
      const la_ssize_t got = archive_read_data(a, block.data(), block.size());
      if (got < 0) return damaged(packaging, a);
      if (got == 0) break;
      if (module_->size() + static_cast<std::uint64_t>(got) > max_size_) {
        return Error{errc::too_large, path + " in layer " + layer_.digest + " is over " +
                                          std::to_string(max_size_) +
                                          " bytes, PROXY_MAX_BLOB_SIZE"};
      }
      hasher.update({block.data(), static_cast<std::size_t>(got)});
      if (auto error = module_->append(block.data(), static_cast<std::size_t>(got))) return error;
    }
    module_digest_ = hasher.finish_digest();
    return check_unpacked(a);
  }

  // Past an entry's data (still decompressed, so still counted against the bound).
  std::optional<Error> skip(archive* a, const std::string& packaging) {
    if (archive_read_data_skip(a) < ARCHIVE_WARN) return damaged(packaging, a);
    return check_unpacked(a);
  }

  const oci::Descriptor& layer_;
  const std::string& spool_dir_;
  const std::uint64_t max_size_;
  std::vector<std::string> wasm_paths_;
  std::vector<std::string> other_paths_;
  std::size_t others_ = 0;
  std::shared_ptr<SpoolFile> module_;
  std::string module_digest_;
};

}  // namespace

Expected<UnpackedModule> unpack_layer(const std::shared_ptr<SpoolFile>& layer,
                                      const oci::Descriptor& descriptor,
                                      const std::string& spool_dir, std::uint64_t max_module_size) {
  if (auto error = verify_layer(*layer, descriptor)) return *error;
  if (starts_with_magic(*layer)) {
    return UnpackedModule{
        layer, oci::Descriptor{"application/wasm", descriptor.digest, layer->size()}, "wasm", ""};
  }
  return Unpacker(descriptor, spool_dir, max_module_size).run(layer->fd());
}

}  // namespace pp
