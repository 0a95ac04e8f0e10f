# The serving-side reader library: its rules alone, and the library against the real broker
# and apiserver (both fixtures).
kappa_unit_test(follow_rules_test runtime/serve/follow_rules_test.cc LIBS kappa_serve_rules)

add_executable(serving_reader_it runtime/serve/serving_reader_it.cc)
target_link_libraries(serving_reader_it PRIVATE kappa_serve kappa_kafka kappa_test_support
  kappa_kube_test_support GTest::gtest_main)
# One test for the binary: gtest_discover_tests cannot pass lists (two fixtures, two
# variables) as test properties.
add_test(NAME serve.serving_reader_it COMMAND serving_reader_it)
set_tests_properties(serve.serving_reader_it PROPERTIES
  LABELS integration
  FIXTURES_REQUIRED "apiserver;kafka"
  TIMEOUT 240
  ENVIRONMENT "KAPPA_TEST_APISERVER_ENV=${KAPPA_TEST_APISERVER_ENV};KAPPA_TEST_KAFKA_ENV=${KAPPA_TEST_KAFKA_STATE}/kafka.env")

# kappa-serve's answers, from a fake view.
kappa_unit_test(http_front_test serve/http_front_test.cc LIBS kappa_serve_http)
