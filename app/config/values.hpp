#pragma once
// The parsers of setting values that more than one setting shares. Each stores the value of the
// text an operator gave, or returns what is wrong with it, worded to follow "<variable>: " in the
// error message.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pp {

using Problem = std::optional<std::string>;

// A whole number, `min` .. `max`.
Problem parse_size(const std::string& v, std::size_t min, std::size_t max, std::size_t& out);

// true/1/yes/on or false/0/no/off.
Problem parse_bool(const std::string& v, bool& out);

// tcp|mqtt|ssl|mqtts|ws|wss://host[:port] (WebSockets may add a path), stored in Paho's spelling.
Problem parse_mqtt_address(const std::string& v, std::string& out);

// Comma-separated MQTT topic levels, or "+" alone for every channel.
Problem parse_channels(const std::string& v, std::vector<std::string>& out);

// A topic level, or "+" for every tenant.
Problem parse_tenant(const std::string& v, std::string& out);

// Go's time.ParseDuration syntax ("30s", "1m30s", "500ms", "1.5h"), because deployments of the Go
// proxy set PROXY_MQTT_TIMEOUT that way, or a bare whole number of seconds. Rounded up to whole
// seconds (what Paho takes); the result must lie in `min_s` .. 1 h.
Problem parse_timeout(const std::string& v, int& out, std::uint64_t min_s = 1);

}  // namespace pp
