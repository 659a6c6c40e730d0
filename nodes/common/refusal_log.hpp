#pragma once
// How refused requests are logged, so that a device publishing in a loop, or many of them, cannot
// fill the log. Per channel, the first refusal in a second gets a line of its own, saying what it
// was; the ones after it are counted by code, and the channel's next line, or a summary once the
// second is over, says how many of which were held back. Over all channels there are at most
// kLinesPerSecond such lines a second; refusals past that are only counted, into one summary.
// Every refusal is still answered (a status message) and counted in the metrics: only the log is
// spared.
//
// Shared by the track stage (note) and the service's clock (flush): every call locks.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace pp {

class RefusalLog {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kLinesPerSecond = 5;

  struct HeldBack {
    std::uint64_t count = 0;
    std::map<std::string, std::uint64_t> by_code;
    void add(const std::string& code);
    // "412 (not_allowed 400, invalid_request 12)"; empty when nothing was held back.
    std::string describe() const;
  };

  // Whether this refusal on `channel` gets a line of its own now; if so, `held_back` is what the
  // channel held back since its last line.
  bool note(const std::string& channel, const std::string& code, Clock::time_point now,
            HeldBack& held_back);

  struct Summary {
    std::string channel;  // empty: refusals past the line budget, over all channels
    HeldBack held_back;
  };
  // What was held back on channels whose last line is a second old or more, and past the budget:
  // to be logged. Channels with nothing held back are forgotten too, so that what is kept is
  // bounded by the lines of about a second. Call it about once a second.
  std::vector<Summary> flush(Clock::time_point now);

  std::size_t channels() const;  // channels remembered

 private:
  struct Channel {
    Clock::time_point logged_at;
    HeldBack held_back;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Channel> channels_;
  Clock::time_point second_{};  // when the current second of the line budget began
  std::size_t lines_ = 0;       // lines given in it
  HeldBack over_budget_;
};

}  // namespace pp
