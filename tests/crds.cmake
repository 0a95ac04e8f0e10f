# The PipelineVersion CRD (crds/) against the real apiserver of the `apiserver` fixture:
# examples and valid manifests accepted with defaults filled in, every manifest of the
# invalid catalogue (tests/crds/invalid) rejected with its expected field error, spec
# immutability on real updates, printer columns. Included by tests/CMakeLists.txt.
if(NOT DEFINED KAPPA_TEST_APISERVER_ENV)
  include(${CMAKE_CURRENT_LIST_DIR}/apiserver_fixture.cmake OPTIONAL)
endif()

# The test installs crds/pipelineversions.kappa.io.yaml into the shared control plane (and
# leaves it there); its objects live in a namespace of its own. Other tests that install or
# change kappa.io CRDs in the same fixture take RESOURCE_LOCK kappa_crds too, so that no
# test sees the CRD change under it. It neither compacts etcd nor watches, so it does not
# need apiserver_history.
add_test(NAME e2e.crd_validation_catalogue
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/crds/run-catalogue.sh)
set_tests_properties(e2e.crd_validation_catalogue PROPERTIES
  FIXTURES_REQUIRED apiserver
  RESOURCE_LOCK kappa_crds
  ENVIRONMENT "KAPPA_TEST_APISERVER_ENV=${KAPPA_TEST_APISERVER_ENV}"
  LABELS integration
  TIMEOUT 300)

# The cross-object cases (tests/crds/cross-object): refused at apply by the operator's
# validating admission webhook, served by the real kappa-operator binary on this host and
# registered for the test's namespace only. Same lock, since it applies the CRD too.
add_test(NAME e2e.admission_cross_object_catalogue
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/crds/run-cross-object.sh)
set_tests_properties(e2e.admission_cross_object_catalogue PROPERTIES
  FIXTURES_REQUIRED apiserver
  RESOURCE_LOCK kappa_crds
  ENVIRONMENT "KAPPA_TEST_APISERVER_ENV=${KAPPA_TEST_APISERVER_ENV};KAPPA_BIN=${CMAKE_RUNTIME_OUTPUT_DIRECTORY}"
  LABELS integration
  TIMEOUT 300)
