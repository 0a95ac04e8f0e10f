# The Helm chart (charts/kappa-operator) and its alert rules: helm lint, the CRD copy,
# `helm template | kubectl apply --dry-run=server` against the `apiserver` fixture (under
# the restricted Pod Security level), the RBAC rules checked with `kubectl auth can-i`, and
# promtool check/test of files/alerts.yaml. helm and promtool come from
# e2e/tools/build-tools.sh. It installs minimal monitoring.coreos.com CRDs into the shared
# control plane (and leaves them); its other objects live in a namespace of its own. It
# takes RESOURCE_LOCK kappa_crds because it server-dry-runs the kappa.io CRD (--include-crds).
if(NOT DEFINED KAPPA_TEST_APISERVER_ENV)
  include(${CMAKE_CURRENT_LIST_DIR}/apiserver_fixture.cmake OPTIONAL)
endif()

add_test(NAME e2e.chart_checks
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/chart/check-chart.sh)
set_tests_properties(e2e.chart_checks PROPERTIES
  FIXTURES_REQUIRED apiserver
  RESOURCE_LOCK kappa_crds
  ENVIRONMENT "KAPPA_TEST_APISERVER_ENV=${KAPPA_TEST_APISERVER_ENV}"
  LABELS integration
  TIMEOUT 600)
