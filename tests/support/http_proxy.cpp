#include "tests/support/http_proxy.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>

namespace pp::test {

namespace {

constexpr std::size_t kMaxHead = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Reads up to the end of the request head. Reads in blocks, so bytes past the head (a body the
// client sent right away) are returned in `rest` to be passed on, not lost.
bool read_head(int fd, std::string& head, std::string& rest) {
  std::string data;
  char buf[4096];
  for (;;) {
    const auto end = data.find("\r\n\r\n");
    if (end != std::string::npos) {
      head = data.substr(0, end + 4);
      rest = data.substr(end + 4);
      return true;
    }
    if (data.size() > kMaxHead) return false;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    data.append(buf, static_cast<std::size_t>(n));
  }
}

struct Authority {
  std::string host;
  std::string port;
};

// "host:port", "[v6]:port", or without a port (then `default_port`).
std::optional<Authority> split_authority(std::string_view text, std::string_view default_port) {
  Authority a;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    a.host = text.substr(1, close - 1);
    text.remove_prefix(close + 1);
    if (text.empty()) {
      a.port = default_port;
    } else if (text.front() == ':') {
      a.port = text.substr(1);
    } else {
      return std::nullopt;
    }
  } else {
    const auto colon = text.rfind(':');
    a.host = text.substr(0, colon);
    a.port = colon == std::string_view::npos ? default_port : text.substr(colon + 1);
  }
  if (a.host.empty() || a.port.empty()) return std::nullopt;
  return a;
}

bool is_loopback(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(addr);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr);
    return std::memcmp(&v6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0;
  }
  return false;
}

// A connected socket to the first loopback address `a` resolves to, or -1. Names are resolved
// (not only literals), so tests may reach the origin by a name as well as by an address.
int connect_origin(const Authority& a) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(a.host.c_str(), a.port.c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (const addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
    if (!is_loopback(ai->ai_addr)) continue;
    fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd >= 0 && ::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  return fd;
}

// Both directions until either side closes; `first` goes to the origin before anything else.
void relay(int client, int origin, const std::string& first) {
  if (!send_all(origin, first.data(), first.size())) {
    ::shutdown(client, SHUT_RDWR);
    ::shutdown(origin, SHUT_RDWR);
    return;
  }
  std::thread up([client, origin] { pump(client, origin); });
  pump(origin, client);
  up.join();
}

// The head for the origin: origin-form request line, hop-by-hop headers dropped and
// `Connection: close`, so that the origin's close marks the end of the response and the relay
// needs no HTTP framing of its own.
std::string origin_head(std::string_view head, std::string_view method, std::string_view path,
                        std::string_view version, std::string_view authority) {
  std::string out =
      std::string(method) + " " + std::string(path) + " " + std::string(version) + "\r\n";
  bool has_host = false;
  auto pos = head.find("\r\n") + 2;  // past the request line
  while (pos < head.size()) {
    const auto eol = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) break;
    const std::string_view name = line.substr(0, line.find(':'));
    if (iequals(name, "connection") || iequals(name, "proxy-connection") ||
        iequals(name, "keep-alive") || iequals(name, "proxy-authorization")) {
      continue;
    }
    if (iequals(name, "host")) has_host = true;
    out.append(line).append("\r\n");
  }
  if (!has_host) out.append("Host: ").append(authority).append("\r\n");
  out.append("Connection: close\r\n\r\n");
  return out;
}

}  // namespace

HttpProxy::HttpProxy() : server_([this](int client, int) { serve(client); }) {}

HttpProxy::~HttpProxy() = default;

std::vector<std::string> HttpProxy::targets() const {
  std::lock_guard lock(mutex_);
  return targets_;
}

void HttpProxy::record(const std::string& target) {
  std::lock_guard lock(mutex_);
  targets_.push_back(target);
}

void HttpProxy::serve(int client) {
  std::string head, rest;
  if (!read_head(client, head, rest)) return;
  const std::string_view line(head.data(), head.find("\r\n"));
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  // Counted before the client hears back, so tests never race the counters.
  const auto refuse = [&] {
    refused_.fetch_add(1);
    static constexpr std::string_view kBadGateway =
        "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    send_all(client, kBadGateway.data(), kBadGateway.size());
    ::shutdown(client, SHUT_RDWR);
  };
  if (sp1 == std::string_view::npos || sp2 == sp1) return refuse();
  const std::string method(line.substr(0, sp1));
  const std::string target(line.substr(sp1 + 1, sp2 - sp1 - 1));
  const std::string_view version = line.substr(sp2 + 1);
  record(target);

  if (iequals(method, "CONNECT")) {
    const auto authority = split_authority(target, "");
    const int origin = authority ? connect_origin(*authority) : -1;
    if (origin < 0) return refuse();
    server_.track(origin);
    tunnels_.fetch_add(1);
    static constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (!send_all(client, kEstablished.data(), kEstablished.size())) return;
    relay(client, origin, rest);
    return;
  }

  constexpr std::string_view kScheme = "http://";
  if (target.size() <= kScheme.size() ||
      !iequals(std::string_view(target).substr(0, kScheme.size()), kScheme)) {
    return refuse();  // origin-form or https:// URIs are not for a forward proxy to serve
  }
  const std::string_view after_scheme = std::string_view(target).substr(kScheme.size());
  const auto slash = after_scheme.find('/');
  const std::string_view authority_text = after_scheme.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "/" : after_scheme.substr(slash);
  const auto authority = split_authority(authority_text, "80");
  const int origin = authority ? connect_origin(*authority) : -1;
  if (origin < 0) return refuse();
  server_.track(origin);
  forwarded_.fetch_add(1);
  relay(client, origin, origin_head(head, method, path, version, authority_text) + rest);
}

}  // namespace pp::test
