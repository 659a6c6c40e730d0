#include "tests/support/tar_layer.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <stdexcept>

namespace pp::test {

namespace {

la_ssize_t append(archive*, void* out, const void* data, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), n);
  return static_cast<la_ssize_t>(n);
}

void check(int status, archive* a, const char* what) {
  if (status < ARCHIVE_WARN) {
    throw std::runtime_error(std::string("make_tar: ") + what + ": " +
                             (archive_error_string(a) ? archive_error_string(a) : "?"));
  }
}

}  // namespace

std::string make_tar(const std::vector<TarEntry>& entries, Compression compression) {
  std::string out;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
  check(archive_write_set_format_pax_restricted(a.get()), a.get(), "format");
  if (compression == Compression::gzip)
    check(archive_write_add_filter_gzip(a.get()), a.get(), "gzip");
  if (compression == Compression::zstd)
    check(archive_write_add_filter_zstd(a.get()), a.get(), "zstd");
  // Layers are a byte stream: no padding of the last block beyond tar's own.
  check(archive_write_set_bytes_in_last_block(a.get(), 1), a.get(), "block");
  check(archive_write_open(a.get(), &out, nullptr, append, nullptr), a.get(), "open");
  for (const auto& e : entries) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                   archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.path.c_str());
    archive_entry_set_filetype(entry.get(), e.directory ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry.get(), e.directory ? 0755 : 0644);
    archive_entry_set_size(entry.get(), e.directory ? 0 : static_cast<la_int64_t>(e.bytes.size()));
    check(archive_write_header(a.get(), entry.get()), a.get(), "header");
    if (!e.directory && !e.bytes.empty()) {
      const la_ssize_t n = archive_write_data(a.get(), e.bytes.data(), e.bytes.size());
      if (n != static_cast<la_ssize_t>(e.bytes.size())) check(ARCHIVE_FATAL, a.get(), "data");
    }
  }
  check(archive_write_close(a.get()), a.get(), "close");
  return out;
}

}  // namespace pp::test
