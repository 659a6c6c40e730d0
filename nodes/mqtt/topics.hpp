#pragma once
// The topic layout of the seed protocol:
// channels/<channel>/messages/registry/{proplet,server,status}.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pp::mqtt {

class Topics {
 public:
  // `channels`: channel ids, or {"+"} for every channel. `shared_group`: when set, requests are
  // subscribed through "$share/<group>/…", so that the broker hands each request to one proxy of
  // the group.
  explicit Topics(std::vector<std::string> channels, std::string shared_group = {})
      : channels_(std::move(channels)), shared_group_(std::move(shared_group)) {}

  // Where requests arrive: one subscription per configured channel.
  std::vector<std::string> request_subscriptions() const {
    const std::string share = shared_group_.empty() ? "" : "$share/" + shared_group_ + "/";
    std::vector<std::string> out;
    for (const auto& ch : channels_)
      out.push_back(share + request(ch));
    return out;
  }
  static std::string request(std::string_view ch) { return prefix(ch) + "proplet"; }
  static std::string server(std::string_view ch) { return prefix(ch) + "server"; }
  static std::string status(std::string_view ch) { return prefix(ch) + "status"; }

  // The channel a request topic belongs to (answers go back to that channel). Messages arrive on
  // their own topic, never on the "+" or "$share" form that was subscribed.
  static std::optional<std::string> channel_of_request(std::string_view topic) {
    constexpr std::string_view head = "channels/";
    constexpr std::string_view tail = "/messages/registry/proplet";
    if (!topic.starts_with(head) || !topic.ends_with(tail)) return std::nullopt;
    const auto ch = topic.substr(head.size(), topic.size() - head.size() - tail.size());
    if (ch.empty() || ch.find('/') != std::string_view::npos) return std::nullopt;
    return std::string(ch);
  }

 private:
  static std::string prefix(std::string_view ch) {
    return "channels/" + std::string(ch) + "/messages/registry/";
  }
  std::vector<std::string> channels_;
  std::string shared_group_;
};

}  // namespace pp::mqtt
