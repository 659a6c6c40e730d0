#include "nodes/store/spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace pp {

namespace {

Error disk_error(const std::string& what) {
  return Error{errc::proxy_error, what + ": " + std::strerror(errno)};
}

}  // namespace

Expected<std::shared_ptr<SpoolFile>> SpoolFile::create(const std::string& dir, bool linkable) {
  const auto failed = [&dir] { return disk_error("cannot create a file in " + dir); };
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return std::make_shared<SpoolFile>(fd);
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return failed();
  // No O_TMPFILE on this file system: a named file, unlinked at once unless it must be linked
  // later (then it is removed with the SpoolFile, or by the cache's sweep after a crash).
  std::string path = dir + "/propeller-proxy-partial-XXXXXX";
  const int named = ::mkostemp(path.data(), O_CLOEXEC);
  if (named < 0) return failed();
  if (!linkable) {
    ::unlink(path.c_str());
    path.clear();
  }
  return std::make_shared<SpoolFile>(named, 0, std::move(path));
}

SpoolFile::~SpoolFile() {
  ::close(fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
}

int SpoolFile::link_to(const std::string& name) const {
  // An anonymous file is named through its /proc link (linkat with AT_EMPTY_PATH would need
  // CAP_DAC_READ_SEARCH).
  const std::string from = path_.empty() ? "/proc/self/fd/" + std::to_string(fd_) : path_;
  const int flags = path_.empty() ? AT_SYMLINK_FOLLOW : 0;
  return ::linkat(AT_FDCWD, from.c_str(), AT_FDCWD, name.c_str(), flags) == 0 ? 0 : errno;
}

std::optional<Error> SpoolFile::append(const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t written = ::pwrite(fd_, data, n, static_cast<off_t>(size_));
    if (written < 0) {
      if (errno == EINTR) continue;
      return disk_error("cannot write to the spool directory");
    }
    size_ += static_cast<std::uint64_t>(written);
    data += written;
    n -= static_cast<std::size_t>(written);
  }
  return std::nullopt;
}

ssize_t SpoolFile::read_at(std::uint64_t offset, char* data, std::size_t n) const {
  for (;;) {
    const ssize_t got = ::pread(fd_, data, n, static_cast<off_t>(offset));
    if (got >= 0 || errno != EINTR) return got;
  }
}

LayerSpooler::LayerSpooler(std::shared_ptr<SpoolFile> file, oci::Descriptor layer,
                           std::function<bool()> cancelled, Done done)
    : file_(std::move(file)),
      layer_(std::move(layer)),
      cancelled_(std::move(cancelled)),
      done_(std::move(done)) {}

std::size_t LayerSpooler::on_data(const char* data, std::size_t size) {
  if (abort_reason_) return 0;
  if (cancelled_()) {
    abort_reason_ = cancelled_error();
    return 0;
  }
  if (auto error = oci::check_blob_size(file_->size() + size, layer_, false)) {
    abort_reason_ = std::move(error);
    return 0;
  }
  if (auto error = file_->append(data, size)) {
    abort_reason_ = std::move(error);
    return 0;
  }
  return size;
}

void LayerSpooler::on_end(std::optional<Error> error) {
  if (!done_) return;
  Done done = std::move(done_);
  done_ = nullptr;
  if (abort_reason_) return done(std::move(*abort_reason_));
  if (error) return done(std::move(*error));
  if (auto wrong_size = oci::check_blob_size(file_->size(), layer_, true)) {
    return done(std::move(*wrong_size));
  }
  done(std::move(file_));
}

namespace {

class SpoolStream : public oci::Registry::Call, public std::enable_shared_from_this<SpoolStream> {
 public:
  SpoolStream(oci::HttpIo& io, std::shared_ptr<SpoolFile> file, std::shared_ptr<oci::BlobSink> sink)
      : io_(io), file_(std::move(file)), sink_(std::move(sink)) {}

  void start() { schedule(); }
  void resume() override {
    if (!paused_) return;
    paused_ = false;
    schedule();
  }
  void cancel() override { end(cancelled_error()); }

 private:
  // Big enough to keep system calls rare, small enough that other exchanges are not held up.
  static constexpr std::size_t kReadSize = 256 * 1024;

  void schedule() {
    io_.post([self = shared_from_this()] { self->step(); });
  }

  void step() {
    if (!sink_ || paused_) return;
    buffer_.resize(kReadSize);
    const ssize_t got = file_->read_at(offset_, buffer_.data(), buffer_.size());
    if (got < 0) return end(disk_error("cannot read back the spooled module"));
    if (got == 0) return end(std::nullopt);
    const auto n = static_cast<std::size_t>(got);
    const std::size_t taken = sink_->on_data(buffer_.data(), n);
    if (taken == oci::HttpHandler::kPause) {
      paused_ = true;  // the same bytes are offered again after resume(), as curl does
      return;
    }
    if (taken != n) return end(Error{errc::shutting_down, "the receiver stopped the stream"});
    offset_ += n;
    schedule();
  }

  void end(std::optional<Error> error) {
    if (!sink_) return;
    auto sink = std::move(sink_);
    sink_.reset();
    buffer_ = std::vector<char>();
    sink->on_end(std::move(error));
  }

  oci::HttpIo& io_;
  std::shared_ptr<SpoolFile> file_;
  std::shared_ptr<oci::BlobSink> sink_;  // reset once on_end has been called
  std::vector<char> buffer_;
  std::uint64_t offset_ = 0;
  bool paused_ = false;
};

}  // namespace

std::shared_ptr<oci::Registry::Call> stream_spool_file(oci::HttpIo& io,
                                                       std::shared_ptr<SpoolFile> file,
                                                       std::shared_ptr<oci::BlobSink> sink) {
  auto stream = std::make_shared<SpoolStream>(io, std::move(file), std::move(sink));
  stream->start();
  return stream;
}

}  // namespace pp
