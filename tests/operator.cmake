# Tests of kappa-operator's wiring and of whole cutovers through the reconciler. Included
# by tests/CMakeLists.txt.
add_library(kappa_operator_test_support STATIC support/process_workload_runner.cc)
target_link_libraries(kappa_operator_test_support PUBLIC kappa_controllers kappa_test_support)

kappa_unit_test(probe_server_test operator/probe_server_test.cc LIBS kappa_probe_server)
kappa_unit_test(pipeline_metrics_test operator/pipeline_metrics_test.cc LIBS kappa_pipeline_metrics
  kappa_reconciler)

# A real cutover: the apiserver fixture (it installs the CRD, hence the kappa_crds lock) and
# the Kafka fixture, kappa-worker processes run by the ProcessWorkloadRunner.
add_executable(cutover_it operator/cutover_it.cc)
target_link_libraries(cutover_it PRIVATE kappa_reconciler kappa_adapters kappa_operator_test_support
  kappa_kube_test_support GTest::gtest_main)
target_compile_definitions(cutover_it PRIVATE KAPPA_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_dependencies(cutover_it kappa-worker kappa-loadgen)
add_test(NAME operator.cutover_it COMMAND cutover_it)
set_tests_properties(operator.cutover_it PROPERTIES
  LABELS integration
  FIXTURES_REQUIRED "apiserver;kafka"
  RESOURCE_LOCK kappa_crds
  TIMEOUT 300
  ENVIRONMENT "KAPPA_TEST_APISERVER_ENV=${KAPPA_TEST_APISERVER_ENV};KAPPA_TEST_KAFKA_ENV=${KAPPA_TEST_KAFKA_STATE}/kafka.env")

# The kappa-operator binary: leader Lease, probes, metrics, the replay Deployment and
# ResourceQuota written by the production adapter, clean SIGTERM. Same fixtures and lock.
add_executable(operator_it operator/operator_it.cc)
target_link_libraries(operator_it PRIVATE kappa_reconciler kappa_adapters
  kappa_test_support kappa_kube_test_support GTest::gtest_main)
target_compile_definitions(operator_it PRIVATE KAPPA_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_dependencies(operator_it kappa-operator kappa-worker kappa-loadgen)
add_test(NAME operator.operator_it COMMAND operator_it)
set_tests_properties(operator.operator_it PROPERTIES
  LABELS integration
  FIXTURES_REQUIRED "apiserver;kafka"
  RESOURCE_LOCK kappa_crds
  TIMEOUT 300
  ENVIRONMENT "KAPPA_TEST_APISERVER_ENV=${KAPPA_TEST_APISERVER_ENV};KAPPA_TEST_KAFKA_ENV=${KAPPA_TEST_KAFKA_STATE}/kafka.env")
