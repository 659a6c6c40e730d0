#pragma once
// Which registries a request may make the proxy fetch from. Anyone who can publish on a request
// topic chooses the reference, so without this list the proxy would send HTTP requests to any host
// a device names: a server-side request forgery. By default only PROXY_REGISTRY_URL's registry is
// allowed; PROXY_REGISTRY_ALLOW adds hosts, or "*" for any.

#include <string>
#include <string_view>
#include <vector>

#include "nodes/common/error.hpp"

namespace pp::oci {

class RegistryAllowList {
 public:
  // Only `default_registry` (host[:port], as RegistryUrl holds it).
  explicit RegistryAllowList(std::string default_registry = {});

  // `csv`: comma-separated registries written as in references ("ghcr.io", "docker.io",
  // "registry.local:5000"), or "*". An entry names a host and port exactly: "host" allows the host
  // on its scheme's default port only, so "host:5000" must be listed as such. Docker Hub's names
  // are one registry, as in references. The error names the entry that is not a registry.
  static Expected<RegistryAllowList> parse(std::string_view csv, std::string default_registry);

  // `registry` as Reference::registry holds it.
  bool allows(std::string_view registry) const;
  // "registry.local:5000, ghcr.io", for the message that refuses a request.
  std::string describe() const;

 private:
  bool any_ = false;
  std::vector<std::string> registries_;  // lower case; the default first
};

}  // namespace pp::oci
