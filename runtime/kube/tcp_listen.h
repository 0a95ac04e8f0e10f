// listenOn: binds and opens an asio acceptor on a host:port address, as the operator's HTTP
// endpoints take it (":8081" and "0.0.0.0:8081" listen on every IPv4 address, "[::1]:8081"
// on an IPv6 one; port 0 picks a free port).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "runtime/core/result.h"

namespace kappa::kube {

// Fails with kInvalidArgument ("<what> address <address>: ...") when the address does not
// resolve or cannot be bound.
inline Result<void> listenOn(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address,
                             const std::string& what) {
  namespace asio = boost::asio;
  using tcp = asio::ip::tcp;
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Error{ErrorCode::kInvalidArgument,
                 what + " address " + address + ": expected host:port"};
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  std::string port = address.substr(colon + 1);
  boost::system::error_code ec;
  tcp::resolver resolver(acceptor.get_executor());
  auto endpoints = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (!ec && endpoints.empty()) ec = asio::error::host_not_found;
  tcp::endpoint endpoint;
  if (!ec) {
    endpoint = endpoints.begin()->endpoint();
    acceptor.open(endpoint.protocol(), ec);
  }
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error{ErrorCode::kInvalidArgument,
                 what + " address " + address + ": cannot listen (" + ec.message() + ")"};
  }
  return {};
}

}  // namespace kappa::kube
