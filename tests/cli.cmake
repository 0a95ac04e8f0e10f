# kubectl-kappa cluster commands against the real apiserver (they install the kappa.io CRD).
add_executable(cluster_commands_it cli/cluster_commands_it.cc)
target_link_libraries(cluster_commands_it PRIVATE kappa_cli_cluster kappa_kube_test_support
  kappa_test_support GTest::gtest_main)
target_compile_definitions(cluster_commands_it PRIVATE KAPPA_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_dependencies(cluster_commands_it kubectl-kappa)
gtest_discover_tests(cluster_commands_it DISCOVERY_TIMEOUT 60 PROPERTIES
  LABELS integration
  FIXTURES_REQUIRED apiserver
  TIMEOUT 120
  RESOURCE_LOCK kappa_crds
  ENVIRONMENT "KAPPA_TEST_APISERVER_ENV=${KAPPA_TEST_APISERVER_ENV}")
