#pragma once
// Test certificates, made with the openssl command line for each test.

#include <sys/stat.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "tests/support/process.hpp"
#include "tests/support/registry.hpp"

namespace pp::test {

// A CA, a server certificate for 127.0.0.1/localhost and a client certificate it signed, and an
// unrelated CA; made with the openssl command line.
struct Certs {
  TempDir dir{"pp-certs-"};
  Certs() {
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script =
        "set -e; cd " + dir.path() + "\n" + "openssl req -x509 " + ec +
        " -keyout ca.key -out ca.crt -days 2 -subj /CN=pp-test-ca\n" + "openssl req -x509 " + ec +
        " -keyout other.key -out other.crt -days 2 -subj /CN=other\n" + "openssl req " + ec +
        " -keyout server.key -out server.csr -subj /CN=localhost\n" +
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext\n" +
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile server.ext -out server.crt\n" +
        "openssl req " + ec + " -keyout client.key -out client.csr -subj /CN=proxy\n" +
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-out client.crt\n" +
        "chmod 644 *\n";
    ChildProcess sh({"sh", "-c", script}, {}, dir.file("openssl.log"));
    if (sh.wait_exit(std::chrono::seconds(60)).value_or(-1) != 0)
      throw std::runtime_error(sh.log());
    ::chmod(dir.path().c_str(), 0755);  // mosquitto drops to its own user
  }
  std::string file(const char* name) const { return dir.file(name); }
};

// docker-registry serving TLS with `certs`' server certificate, and asking for a client
// certificate signed by their CA when `require_client_cert`.
inline RegistryOptions tls_registry(const Certs& certs, bool require_client_cert = false) {
  std::string config = R"(version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {{root}}
http:
  addr: 127.0.0.1:{{port}}
  secret: pp-test-http-secret
  tls:
    certificate: )" + certs.file("server.crt") +
                       "\n    key: " + certs.file("server.key") + "\n";
  if (require_client_cert) config += "    clientcas:\n      - " + certs.file("ca.crt") + "\n";
  return RegistryOptions{.config_template = config};
}

}  // namespace pp::test
