#include "nodes/clients/oci/reference.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "nodes/clients/oci/ascii.hpp"
#include "nodes/clients/oci/manifest.hpp"

namespace pp::oci {
namespace {

constexpr std::size_t max_reference_length = 1024;
constexpr std::size_t max_tag_length = 128;
constexpr std::string_view docker_hub_registry = "registry-1.docker.io";

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || is_upper(c);
}
// Control characters and whitespace would end up in URLs and log lines; DEL counts as control.
bool is_space_or_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

using ascii::iequals;

// The rejected text goes into log lines and MQTT status messages: escape what is not printable and
// cap the length so a 1 MiB garbage reference does not become a 1 MiB error.
std::string quote(std::string_view text) {
  constexpr std::size_t max_quoted = 100;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < max_quoted; ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x20 || u >= 0x7f || text[i] == '"' || text[i] == '\\') {
      constexpr std::array<char, 16> hex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                            '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += text[i];
    }
  }
  if (text.size() > max_quoted) out += "...";
  out += '"';
  return out;
}

Error fail(std::string_view text, std::string_view problem) {
  std::string message = "reference " + quote(text);
  message += problem;
  return Error{errc::invalid_reference, std::move(message)};
}

// A TCP port as written after ':' in host:port: decimal digits only, 1..65535.
bool is_valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (!is_digit(c)) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value >= 1 && value <= 65535;
}

// One DNS label as Docker accepts it: alphanumerics with inner hyphens.
bool is_valid_label(std::string_view label) {
  if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
  for (char c : label) {
    if (!is_alnum(c) && c != '-') return false;
  }
  return true;
}

bool is_valid_hostname(std::string_view host) {
  while (true) {
    const auto dot = host.find('.');
    if (!is_valid_label(host.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    host.remove_prefix(dot + 1);
  }
}

// inet_pton wants a NUL-terminated string; literals longer than any address are rejected up front.
template <int Family, std::size_t Bytes>
std::optional<std::array<unsigned char, Bytes>> parse_ip(std::string_view literal) {
  constexpr std::size_t max_literal = 64;
  if (literal.empty() || literal.size() >= max_literal) return std::nullopt;
  std::array<char, max_literal> buffer{};
  std::memcpy(buffer.data(), literal.data(), literal.size());
  std::array<unsigned char, Bytes> address{};
  if (inet_pton(Family, buffer.data(), address.data()) != 1) return std::nullopt;
  return address;
}

std::optional<std::array<unsigned char, 16>> parse_ipv6(std::string_view literal) {
  return parse_ip<AF_INET6, 16>(literal);
}
std::optional<std::array<unsigned char, 4>> parse_ipv4(std::string_view literal) {
  return parse_ip<AF_INET, 4>(literal);
}

struct HostPort {
  std::string_view host;  // brackets kept for IPv6 literals: "[::1]"
  std::string_view port;  // empty when absent
  bool has_port = false;
};

// Splits "host[:port]" / "[v6]:port" without validating either part. nullopt when the brackets of
// an IPv6 literal are unbalanced or followed by something other than ":port".
std::optional<HostPort> split_host_port(std::string_view text) {
  HostPort out;
  std::size_t host_end = 0;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host_end = close + 1;
    if (host_end < text.size() && text[host_end] != ':') return std::nullopt;
  } else {
    host_end = std::min(text.find(':'), text.size());
  }
  out.host = text.substr(0, host_end);
  if (host_end < text.size()) {
    out.has_port = true;
    out.port = text.substr(host_end + 1);
  }
  return out;
}

bool is_bracketed_ipv6(std::string_view host) {
  return host.size() >= 2 && host.front() == '[' && host.back() == ']' &&
         parse_ipv6(host.substr(1, host.size() - 2)).has_value();
}

std::optional<Error> check_registry(std::string_view text, std::string_view registry) {
  const auto parts = split_host_port(registry);
  if (!parts) {
    return fail(text, " has an invalid registry host " + quote(registry) +
                          ": an IPv6 literal must be \"[address]\" or \"[address]:port\"");
  }
  if (parts->has_port && !is_valid_port(parts->port)) {
    return fail(text, " has an invalid registry port " + quote(parts->port) +
                          " (expected a number from 1 to 65535)");
  }
  const bool bracketed = !parts->host.empty() && parts->host.front() == '[';
  if (bracketed ? !is_bracketed_ipv6(parts->host) : !is_valid_hostname(parts->host)) {
    return fail(text, " has an invalid registry host " + quote(parts->host));
  }
  return std::nullopt;
}

// The OCI distribution spec's path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool is_valid_path_component(std::string_view component) {
  std::size_t i = 0;
  while (true) {
    const std::size_t run_start = i;
    while (i < component.size() && is_lower_alnum(component[i]))
      ++i;
    if (i == run_start) return false;  // empty run: leading, trailing or doubled separator
    if (i == component.size()) return true;
    const std::size_t sep_start = i;
    while (i < component.size() && !is_lower_alnum(component[i]))
      ++i;
    const std::string_view sep = component.substr(sep_start, i - sep_start);
    const bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
  }
}

std::optional<Error> check_repository(std::string_view text, std::string_view repository) {
  if (repository.empty()) return fail(text, " has an empty repository");
  // Character-level problems first: they give the most precise message.
  for (char c : repository) {
    if (is_upper(c)) {
      return fail(text, ": uppercase letters are not allowed in repository " + quote(repository));
    }
    if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '-' && c != '/') {
      return fail(text, ": invalid character " + quote(std::string_view(&c, 1)) +
                            " in repository " + quote(repository));
    }
  }
  if (repository.back() == '/') {
    return fail(text, " has a trailing slash in repository " + quote(repository));
  }
  std::string_view rest = repository;
  while (true) {
    const auto slash = rest.find('/');
    const std::string_view component = rest.substr(0, slash);
    if (component.empty()) {
      return fail(text, " has an empty path component in repository " + quote(repository));
    }
    if (!is_valid_path_component(component)) {
      return fail(text, ": repository component " + quote(component) +
                            " must be lowercase letters and digits separated by '.', '_', '__' "
                            "or dashes");
    }
    if (slash == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(slash + 1);
  }
}

std::optional<Error> check_tag(std::string_view text, std::string_view tag) {
  if (tag.empty()) return fail(text, " has an empty tag after ':'");
  bool valid = tag.size() <= max_tag_length && (is_alnum(tag.front()) || tag.front() == '_');
  for (char c : tag)
    valid = valid && (is_alnum(c) || c == '_' || c == '.' || c == '-');
  if (!valid) {
    return fail(text, ": invalid tag " + quote(tag) +
                          " (up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')");
  }
  return std::nullopt;
}

std::optional<Error> check_digest(std::string_view text, std::string_view digest) {
  if (digest.empty()) return fail(text, " has an empty digest after '@'");
  const auto colon = digest.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(text, ": invalid digest " + quote(digest) + " (expected \"sha256:<64 hex>\")");
  }
  const std::string_view algorithm = digest.substr(0, colon);
  if (algorithm != "sha256" && algorithm != "sha512") {
    return fail(text, ": unsupported digest algorithm " + quote(algorithm) + " (sha256 or sha512)");
  }
  if (!is_digest(digest)) {
    return fail(text, ": invalid digest " + quote(digest) + " (" + std::string(algorithm) +
                          " needs exactly " + (algorithm == "sha256" ? "64" : "128") +
                          " lowercase hex digits)");
  }
  return std::nullopt;
}

std::optional<Error> check_characters(std::string_view text) {
  if (text.empty()) return fail(text, " is empty");
  if (text.size() > max_reference_length) {
    return fail(text, " is longer than " + std::to_string(max_reference_length) + " characters");
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_space_or_control(text[i])) {
      return fail(text,
                  " contains whitespace or a control character at offset " + std::to_string(i));
    }
  }
  if (text.find("://") != std::string_view::npos) {
    return fail(text, " must not include a scheme such as \"https://\"; write host/repository");
  }
  return std::nullopt;
}

// Docker's rule: the first component names a host only if it could not be a repository component.
bool looks_like_host(std::string_view component) {
  return component.find_first_of(".:") != std::string_view::npos || component == "localhost";
}

bool is_docker_hub(std::string_view registry) {
  return iequals(registry, "docker.io") || iequals(registry, "index.docker.io") ||
         iequals(registry, docker_hub_registry);
}

// The textual pieces of a reference before any of them is validated.
struct Pieces {
  std::string_view registry;  // empty when the reference names no host
  std::string_view repository;
  std::optional<std::string_view> tag;
  std::optional<std::string_view> digest;
};

Pieces split(std::string_view text) {
  Pieces out;
  std::string_view name = text;
  // '@' and ':' never occur in a valid repository, so the last of each delimits digest and tag.
  if (const auto at = name.rfind('@'); at != std::string_view::npos) {
    out.digest = name.substr(at + 1);
    name = name.substr(0, at);
  }
  if (const auto slash = name.find('/');
      slash != std::string_view::npos && looks_like_host(name.substr(0, slash))) {
    out.registry = name.substr(0, slash);
    name.remove_prefix(slash + 1);
  }
  if (const auto colon = name.rfind(':'); colon != std::string_view::npos) {
    out.tag = name.substr(colon + 1);
    name = name.substr(0, colon);
  }
  out.repository = name;
  return out;
}

std::optional<Error> check_pieces(std::string_view text, const Pieces& pieces) {
  if (!pieces.registry.empty()) {
    if (auto error = check_registry(text, pieces.registry)) return error;
  }
  if (auto error = check_repository(text, pieces.repository)) return error;
  if (pieces.tag) {
    if (auto error = check_tag(text, *pieces.tag)) return error;
  }
  if (pieces.digest) {
    if (auto error = check_digest(text, *pieces.digest)) return error;
  }
  return std::nullopt;
}

}  // namespace

std::string Reference::str() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

Expected<Reference> parse_reference(std::string_view text, std::string_view default_registry) {
  if (auto error = check_characters(text)) return *error;
  const Pieces pieces = split(text);
  if (auto error = check_pieces(text, pieces)) return *error;

  Reference ref;
  if (!pieces.registry.empty()) {
    ref.registry = pieces.registry;
  } else if (!default_registry.empty()) {
    ref.registry = default_registry;
  } else {
    return fail(text, " names no registry host and PROXY_REGISTRY_URL has none");
  }
  ref.repository = pieces.repository;
  // Docker Hub serves official images under "library/" and only answers the API on registry-1.
  if (is_docker_hub(ref.registry)) {
    ref.registry = docker_hub_registry;
    if (ref.repository.find('/') == std::string::npos) ref.repository.insert(0, "library/");
  }
  if (pieces.tag) ref.tag = *pieces.tag;
  if (pieces.digest) ref.digest = *pieces.digest;
  if (!pieces.tag && !pieces.digest) ref.tag = "latest";
  // The canonical form is what the cache keys on and what names the reference everywhere after:
  // it must be a reference too (the registry and ":latest" it adds count).
  if (ref.str().size() > max_reference_length) {
    return fail(text, " is longer than " + std::to_string(max_reference_length) +
                          " characters once its registry and tag are written out");
  }
  return ref;
}

bool is_loopback_host(std::string_view host_port) {
  const auto parts = split_host_port(host_port);
  if (!parts || (parts->has_port && !is_valid_port(parts->port))) return false;
  const std::string_view host = parts->host;
  if (iequals(host, "localhost")) return true;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const auto v6 = parse_ipv6(host.substr(1, host.size() - 2));
    return v6 && std::memcmp(v6->data(), &in6addr_loopback, v6->size()) == 0;
  }
  const auto v4 = parse_ipv4(host);
  return v4 && (*v4)[0] == 127;
}

}  // namespace pp::oci
