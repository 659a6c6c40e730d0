#pragma once
// Small TCP helpers for the test and benchmark clients.

#include <string>

namespace pp::test {

// Port of a "tcp://host:port" URL, or 0.
int url_port(const std::string& url);

// Paho C leaves Nagle on and does not expose its socket. With Nagle, a small write (a PUBLISH or
// PUBACK) waits for the peer's delayed ACK (~40 ms) whenever an earlier segment is unacked. A Go
// proplet has Nagle off (Go's default), so this switches it off on every TCP connection of this
// process to `port` (all of them: Paho's fd is not reachable). Call after connecting.
void disable_nagle_towards(int port);

}  // namespace pp::test
