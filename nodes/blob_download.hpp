#pragma once
// The blob-download stage: streams a blob from the registry and cuts it into chunks as the bytes
// arrive, never holding more than one chunk of it. A chunk needs a window credit before its first
// byte is stored; without one the download pauses, so a slow broker slows the registry read instead
// of filling memory. The final chunk is held back until the registry's response is complete and its
// length checked, so nothing after it can be missed.
//
// Everything in ChunkCutter runs on the HTTP I/O thread.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "nodes/oci/registry_client.hpp"
#include "pipeline/transfer.hpp"
#include "pipeline/window.hpp"

namespace pp {

class ChunkCutter : public oci::BlobSink, public std::enable_shared_from_this<ChunkCutter> {
 public:
  using Emit = std::function<void(Chunk)>;

  // `emit` puts an item into the graph; it is called for every chunk and exactly once with `last`
  // set (the final chunk or the failure). `seq` numbers items across all downloads.
  ChunkCutter(TransferPtr transfer, ChunkWindow& window, oci::RegistryClient& registry,
              std::atomic<std::uint64_t>& seq, Emit emit);

  // Starts the download. Call on the I/O thread (through HttpIo::post).
  void begin();

  std::size_t on_data(const char* data, std::size_t size) override;
  void on_end(std::optional<Error> error) override;

 private:
  bool take_credit();
  void on_credit();
  void place(const char* data, std::size_t size);
  void finish();
  void fail(Error error);
  void emit_chunk(bool last);

  TransferPtr transfer_;
  ChunkWindow& window_;
  oci::RegistryClient& registry_;
  std::atomic<std::uint64_t>& seq_;
  Emit emit_;

  std::shared_ptr<oci::RegistryClient::Call> download_;
  std::string current_;      // the chunk being filled
  bool has_credit_ = false;  // current_ holds a window credit
  bool waiting_ = false;     // a credit has been asked for and not yet granted
  std::string carry_;        // bytes received while out of credit (at most one read's worth)
  std::uint64_t next_idx_ = 0;
  std::uint64_t received_ = 0;
  bool ended_ = false;                 // the registry's response is over
  bool done_ = false;                  // the final item has been emitted
  std::optional<Error> abort_reason_;  // why we aborted the exchange ourselves
};

// The verify stage (serial, chunks in cut order): hashes each chunk and checks the blob's digest
// before its final chunk is released.
struct Verified {
  std::optional<Publication> publish;  // the chunk to send
  std::optional<TrackEvent> settle;    // or what to tell track instead
};
Verified verify_chunk(Chunk chunk);

}  // namespace pp
