#pragma once
// OCI image references: "host[:port]/repo[/more][:tag][@sha256:<hex>|@sha512:<hex>]".

#include <string>
#include <string_view>

#include "nodes/common/error.hpp"

namespace pp::oci {

struct Reference {
  std::string
      registry;  // host[:port] exactly as used in URLs ("registry-1.docker.io", "127.0.0.1:5000")
  std::string repository;  // "library/hello", "org/app/wasm"
  std::string tag;     // "latest" when neither tag nor digest is given; empty when only a digest is
  std::string digest;  // is_digest() (sha256 or sha512), or empty

  // What goes after /manifests/: the digest when there is one (it pins the content), else the tag.
  const std::string& manifest_selector() const { return digest.empty() ? tag : digest; }
  // Canonical form: registry/repository[:tag][@digest].
  std::string str() const;
};

// Parses `text`. A reference whose first path component is not a host (no '.', no ':', not
// "localhost") lives on `default_registry` (the host[:port] of PROXY_REGISTRY_URL). Docker Hub
// names
// ("docker.io", "index.docker.io") map to "registry-1.docker.io" with the implicit "library/"
// prefix for single-component repositories. Errors carry errc::invalid_reference and say what is
// wrong.
Expected<Reference> parse_reference(std::string_view text, std::string_view default_registry);

// True for hosts on the loopback interface ("localhost", 127.0.0.0/8, "[::1]"), with or without
// port.
bool is_loopback_host(std::string_view host_port);

}  // namespace pp::oci
