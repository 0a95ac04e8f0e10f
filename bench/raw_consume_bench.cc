// The limit for the worker: how fast plain librdkafka reads a topic here, with the same
// consumer settings as the worker (read_committed, large prefetch queue), parsing nothing.
//
//   raw_consume_bench --bootstrap HOST:PORT --topic T
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "bench/read_topics.h"

int main(int argc, char** argv) {
  CLI::App app{"raw consume benchmark"};
  std::string bootstrap, topic;
  app.add_option("--bootstrap", bootstrap)->required();
  app.add_option("--topic", topic)->required();
  CLI11_PARSE(app, argc, argv);

  auto f = kappa::bench::readTopics(bootstrap, {topic});
  if (!f) {
    std::cerr << "raw_consume_bench: " << f.error().message << "\n";
    return 2;
  }
  auto [count, bytes, expected, s] = *f;
  std::fprintf(stderr, "raw consume: %lld records (%lld bytes) of %lld offsets in %.2f s\n",
               static_cast<long long>(count), static_cast<long long>(bytes),
               static_cast<long long>(expected), s);
  std::printf("BENCH raw_consume_msgs_per_s %.0f msgs/s\n", count / s);
  return 0;
}
