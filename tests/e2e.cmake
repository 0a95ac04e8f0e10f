# End-to-end scenarios on the whole local stack (e2e/cluster-up.sh: Kafka, etcd,
# kube-apiserver, node runner, kappa-operator under its ServiceAccount). Each scenario starts
# its own stack in a state directory of its own and stops it at the end, so it needs no
# fixture; it installs the kappa.io CRD, hence RESOURCE_LOCK kappa_crds. Included by
# tests/CMakeLists.txt.
add_test(NAME e2e.first_version_serves
  COMMAND bash ${CMAKE_SOURCE_DIR}/e2e/scenarios/first_version.sh
          ${CMAKE_BINARY_DIR}/e2e-first-version)
set_tests_properties(e2e.first_version_serves PROPERTIES
  RESOURCE_LOCK kappa_crds
  ENVIRONMENT "KAPPA_BIN=${CMAKE_RUNTIME_OUTPUT_DIRECTORY}"
  LABELS e2e
  TIMEOUT 600)
