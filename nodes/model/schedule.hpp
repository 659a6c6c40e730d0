#pragma once
// Which chunks a transfer sends, and when it may end, while further requests join it.
//
// A transfer streams its module once, chunks 0..n-1 in order as the bytes arrive. A request for the
// same app on the same channel that arrives meanwhile joins it instead of downloading again: every
// requester on a channel shares the answer topic, so the chunks cut after it arrived reach it
// anyway, and those cut before are resent once the stream is over (the stream "wraps around"),
// read back from the transfer's spool. A request for particular chunks ("chunks": [3, 9]) joins
// the same way with only those. A chunk pending for several requesters is resent once: one
// publication reaches them all. The transfer ends when nothing is pending after its stream; from
// then on a request starts a transfer of its own.
//
// A transfer started for particular chunks has no stream: it sends just those.
//
// Shared by the request stage (joins) and the download on the I/O thread (cuts): every call locks.

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pp {

class ChunkSchedule {
 public:
  // The module is known (`digest`, in `total_chunks` chunks): the stream may begin.
  void start_stream(std::uint64_t total_chunks, std::string digest);
  // The module is known, and only `chunks` (each < total_chunks) are to be sent, without a stream.
  void start_selection(std::uint64_t total_chunks, std::string digest,
                       const std::vector<std::uint64_t>& chunks);

  enum class Join {
    joined,        // the request is answered by this transfer
    refused,       // it needs a transfer of its own (this one is ending, or cannot tell yet)
    out_of_range,  // it asks for a chunk the module does not have
  };
  // A request for every chunk (`chunks` empty) or for `chunks`, pinned to `digest` unless empty.
  // Asking for particular chunks, or pinning, needs the module to be known already.
  Join join(const std::vector<std::uint64_t>& chunks, std::string_view digest);
  // The proxy itself sends `chunks` again (after a broker restart), as a joiner asking for them
  // would have them, but no request is added to the count.
  Join resend(const std::vector<std::uint64_t>& chunks);

  // The stream cut chunk `idx`, not its last one.
  void cut(std::uint64_t idx);
  // The stream cut its last chunk: true when that is the transfer's last, which closes it to joins.
  bool stream_ended();

  struct Next {
    std::uint64_t idx = 0;
    bool last = false;  // the transfer's final chunk: it is closed to joins from now on
  };
  // The next chunk to send after the stream (or instead of it). Only to be called while something
  // is pending: after a stream_ended() that was not last, after a selection, or after a Next that
  // was not last.
  Next take_next();

  std::uint64_t total_chunks() const;
  std::uint64_t requests() const;  // answered by this transfer: 1 + those that joined
  std::uint64_t resent() const;    // chunks sent after the stream, or instead of it
  std::uint64_t sent() const;      // all chunk messages so far, the stream's and the others

 private:
  void mark_pending(std::uint64_t idx);
  Join add(const std::vector<std::uint64_t>& chunks, std::string_view digest, bool request);

  mutable std::mutex mutex_;
  bool started_ = false;
  bool streamed_ = false;
  bool closed_ = false;
  std::uint64_t total_ = 0;
  std::string digest_;
  std::uint64_t cut_ = 0;  // chunks the stream has cut so far
  std::vector<bool> pending_;
  std::uint64_t pending_count_ = 0;
  std::uint64_t scan_ = 0;  // where take_next() looks first: resends go round in chunk order
  std::uint64_t requests_ = 1;
  std::uint64_t resent_ = 0;
};

}  // namespace pp
