#pragma once
// The two topic layouts a Propeller deployment uses:
//   channels (the seed's):  channels/<channel>/messages/registry/{proplet,server,status}
//   supermq (current):      m/<tenant>/c/<channel>/registry/{proplet,server,status}
// Answers go to the tenant and channel a request came from, whatever was subscribed ("+",
// several channels, "$share/<group>/…").

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pp::mqtt {

enum class TopicScheme { channels, supermq };

// Where a request came from, and so where its answers go. `tenant` is empty in the channels
// scheme and never empty in the supermq one.
struct Origin {
  std::string tenant;
  std::string channel;
  bool operator==(const Origin&) const = default;
};

class Topics {
 public:
  // `channels`: channel ids, or {"+"} for every channel; `tenant`: the supermq tenant id, or "+"
  // for every tenant (ignored in the channels scheme). `shared_group`: when set, requests are
  // subscribed through "$share/<group>/…", so that the broker hands each request to one proxy of
  // the group.
  Topics(TopicScheme scheme, std::string tenant, std::vector<std::string> channels,
         std::string shared_group = {})
      : scheme_(scheme),
        tenant_(std::move(tenant)),
        channels_(std::move(channels)),
        shared_group_(std::move(shared_group)) {}

  // Where requests arrive: one subscription per configured channel.
  std::vector<std::string> request_subscriptions() const {
    const std::string share = shared_group_.empty() ? "" : "$share/" + shared_group_ + "/";
    std::vector<std::string> out;
    for (const auto& ch : channels_) {
      out.push_back(share + request({scheme_ == TopicScheme::supermq ? tenant_ : "", ch}));
    }
    return out;
  }

  static std::string request(const Origin& o) { return prefix(o) + "proplet"; }
  static std::string server(const Origin& o) { return prefix(o) + "server"; }
  static std::string status(const Origin& o) { return prefix(o) + "status"; }

  // The origin of a request topic of either scheme. Messages arrive on their own topic, never on
  // the "+" or "$share" form that was subscribed.
  static std::optional<Origin> origin_of_request(std::string_view topic) {
    if (auto ch = between(topic, "channels/", "/messages/registry/proplet")) {
      return Origin{"", std::string(*ch)};
    }
    if (auto rest = between(topic, "m/", "/registry/proplet")) {
      const auto sep = rest->find("/c/");
      if (sep == std::string_view::npos) return std::nullopt;
      const auto tenant = rest->substr(0, sep), ch = rest->substr(sep + 3);
      if (!is_segment(tenant) || !is_segment(ch)) return std::nullopt;
      return Origin{std::string(tenant), std::string(ch)};
    }
    return std::nullopt;
  }

 private:
  static bool is_segment(std::string_view s) {
    return !s.empty() && s.find('/') == std::string_view::npos;
  }
  // The part of `topic` between `head` and `tail`; one topic level in the channels scheme.
  static std::optional<std::string_view> between(std::string_view topic, std::string_view head,
                                                 std::string_view tail) {
    if (topic.size() <= head.size() + tail.size() || !topic.starts_with(head) ||
        !topic.ends_with(tail)) {
      return std::nullopt;
    }
    const auto middle = topic.substr(head.size(), topic.size() - head.size() - tail.size());
    if (head == "channels/" && !is_segment(middle)) return std::nullopt;
    return middle;
  }
  static std::string prefix(const Origin& o) {
    if (o.tenant.empty()) return "channels/" + o.channel + "/messages/registry/";
    return "m/" + o.tenant + "/c/" + o.channel + "/registry/";
  }

  TopicScheme scheme_;
  std::string tenant_;
  std::vector<std::string> channels_;
  std::string shared_group_;
};

// Where status messages go (PROXY_STATUS_TOPIC): the scheme's own status topic (""), a topic
// template in which {tenant} and {channel} are replaced by the request's, or nowhere ("off").
class StatusTopic {
 public:
  StatusTopic() = default;
  explicit StatusTopic(std::string setting) : setting_(std::move(setting)) {}

  // Why `setting` cannot be a status topic, or nullopt.
  static std::optional<std::string> problem(std::string_view setting) {
    if (setting.empty() || setting == "off") return std::nullopt;
    if (setting.find_first_of("+#") != std::string_view::npos) {
      return "a topic to publish to cannot hold the wildcards + or #";
    }
    if (setting.starts_with('$')) return "topics starting with $ are the broker's";
    std::string rest(setting);
    for (const char* placeholder : {"{tenant}", "{channel}"}) {
      for (auto at = rest.find(placeholder); at != std::string::npos; at = rest.find(placeholder))
        rest.erase(at, std::string_view(placeholder).size());
    }
    if (rest.find_first_of("{}") != std::string::npos) {
      return "the only placeholders are {tenant} and {channel}";
    }
    return std::nullopt;
  }

  bool uses_tenant() const { return setting_.find("{tenant}") != std::string::npos; }

  std::optional<std::string> for_origin(const Origin& o) const {
    if (setting_ == "off") return std::nullopt;
    if (setting_.empty()) return Topics::status(o);
    std::string topic = setting_;
    replace_all(topic, "{tenant}", o.tenant);
    replace_all(topic, "{channel}", o.channel);
    return topic;
  }

 private:
  static void replace_all(std::string& s, std::string_view what, std::string_view with) {
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size()))
      s.replace(at, what.size(), with);
  }
  std::string setting_;
};

}  // namespace pp::mqtt
