# One local Kubernetes control plane (etcd + kube-apiserver, see e2e/cluster/) per test run:
# the fixture starts it before the first test that needs it and stops it after the last one.
# Tests that need it set FIXTURES_REQUIRED apiserver and read the env file named by
# KAPPA_TEST_APISERVER_ENV (KUBECONFIG, KAPPA_RESTRICTED_KUBECONFIG, KUBE_APISERVER_URL,
# ETCD_URL, ...). The first start on a machine builds the binaries (several minutes).
set(KAPPA_TEST_APISERVER_STATE ${CMAKE_BINARY_DIR}/test-apiserver)
set(KAPPA_TEST_APISERVER_ENV ${KAPPA_TEST_APISERVER_STATE}/apiserver.env)
add_test(NAME fixture.apiserver_up
  COMMAND ${CMAKE_SOURCE_DIR}/e2e/cluster/apiserver-up.sh ${KAPPA_TEST_APISERVER_STATE})
add_test(NAME fixture.apiserver_down
  COMMAND ${CMAKE_SOURCE_DIR}/e2e/cluster/apiserver-down.sh ${KAPPA_TEST_APISERVER_STATE})
set_tests_properties(fixture.apiserver_up PROPERTIES FIXTURES_SETUP apiserver TIMEOUT 1800)
set_tests_properties(fixture.apiserver_down PROPERTIES FIXTURES_CLEANUP apiserver)

# A test that compacts etcd (e2e/cluster/etcd-compact.sh) breaks concurrent tests that
# watch from older resourceVersions: such tests all take RESOURCE_LOCK apiserver_history.

# The control plane itself, checked with real kubectl (it compacts etcd).
add_test(NAME e2e.apiserver_kubectl_smoke
  COMMAND ${CMAKE_SOURCE_DIR}/e2e/cluster/smoke-test.sh ${KAPPA_TEST_APISERVER_ENV})
set_tests_properties(e2e.apiserver_kubectl_smoke PROPERTIES
  FIXTURES_REQUIRED apiserver RESOURCE_LOCK apiserver_history LABELS integration TIMEOUT 180)
