#include "tests/support/ws_relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace pp::test {

namespace {

std::string accept_token(const std::string& key) {
  const std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char sha[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), sha);
  unsigned char b64[64];
  const int n = EVP_EncodeBlock(b64, sha, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n));
}

std::string header_value(const std::string& request, const std::string& name) {
  const auto pos = request.find(name + ":");
  if (pos == std::string::npos) return {};
  auto start = pos + name.size() + 1;
  while (start < request.size() && request[start] == ' ')
    ++start;
  return request.substr(start, request.find("\r\n", start) - start);
}

// Client frames (masked) to raw bytes for the broker, until close or error.
void client_to_broker(int client, int broker, std::mutex& client_write) {
  for (;;) {
    unsigned char head[2];
    if (!recv_exact(client, head, 2)) break;
    const int opcode = head[0] & 0x0f;
    std::uint64_t len = head[1] & 0x7f;
    if (len == 126) {
      unsigned char ext[2];
      if (!recv_exact(client, ext, 2)) break;
      len = (std::uint64_t{ext[0]} << 8) | ext[1];
    } else if (len == 127) {
      unsigned char ext[8];
      if (!recv_exact(client, ext, 8)) break;
      len = 0;
      for (const unsigned char b : ext)
        len = (len << 8) | b;
    }
    unsigned char mask[4] = {0, 0, 0, 0};
    if ((head[1] & 0x80) && !recv_exact(client, mask, 4)) break;
    std::string payload(len, '\0');
    if (len > 0 && !recv_exact(client, payload.data(), len)) break;
    for (std::size_t i = 0; i < payload.size(); ++i)
      payload[i] ^= static_cast<char>(mask[i % 4]);
    if (opcode == 0x8) break;  // close
    if (opcode == 0x9) {       // ping: answer pong with the same payload (short by the RFC)
      std::lock_guard lock(client_write);
      const unsigned char pong[2] = {0x8a, static_cast<unsigned char>(payload.size())};
      if (!send_all(client, pong, 2) || !send_all(client, payload.data(), payload.size())) break;
      continue;
    }
    if (!send_all(broker, payload.data(), payload.size())) break;
  }
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(broker, SHUT_RDWR);
}

// Broker bytes to binary frames (servers do not mask), until close or error.
void broker_to_client(int client, int broker, std::mutex& client_write) {
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::recv(broker, buf, sizeof buf, 0);
    if (n <= 0) break;
    unsigned char head[4] = {0x82, 0, 0, 0};
    std::size_t head_len = 2;
    if (n < 126) {
      head[1] = static_cast<unsigned char>(n);
    } else {
      head[1] = 126;
      head[2] = static_cast<unsigned char>(n >> 8);
      head[3] = static_cast<unsigned char>(n & 0xff);
      head_len = 4;
    }
    std::lock_guard lock(client_write);
    if (!send_all(client, head, head_len) || !send_all(client, buf, static_cast<std::size_t>(n))) {
      break;
    }
  }
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(broker, SHUT_RDWR);
}

}  // namespace

WebSocketRelay::WebSocketRelay(int broker_port)
    : broker_port_(broker_port), server_([this](int client, int) { serve(client); }) {}

WebSocketRelay::~WebSocketRelay() = default;

void WebSocketRelay::serve(int client) {
  std::string request;
  char c;
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
    if (::recv(client, &c, 1, 0) != 1) return;  // byte by byte: nothing after the head is eaten
    request.push_back(c);
  }
  const std::string key = header_value(request, "Sec-WebSocket-Key");
  const int broker = key.empty() ? -1 : connect_loopback(broker_port_);
  if (broker < 0) {
    send_all(client, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
    return;
  }
  server_.track(broker);
  const std::string response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      accept_token(key) + "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
  if (!send_all(client, response.data(), response.size())) return;
  std::mutex client_write;
  std::thread down([&] { broker_to_client(client, broker, client_write); });
  client_to_broker(client, broker, client_write);
  down.join();
}

}  // namespace pp::test
