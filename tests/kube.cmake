# Tests of runtime/kube. Included by tests/CMakeLists.txt.
add_library(kappa_kube_test_support STATIC
  support/fakes/kube_api.cc
  support/kube_test_util.cc)
target_link_libraries(kappa_kube_test_support
  PUBLIC kappa_kube GTest::gtest)

kappa_unit_test(kube_config_test runtime/kube/kube_config_test.cc LIBS kappa_kube)
kappa_unit_test(kube_error_test runtime/kube/kube_error_test.cc LIBS kappa_kube)
kappa_unit_test(kube_rate_limiter_test runtime/kube/rate_limiter_test.cc LIBS kappa_kube)
kappa_unit_test(kube_work_queue_test runtime/kube/work_queue_test.cc LIBS kappa_kube)
kappa_unit_test(kube_controller_test runtime/kube/controller_test.cc LIBS kappa_kube_controller)
kappa_unit_test(kube_informer_test runtime/kube/informer_test.cc
  LIBS kappa_kube kappa_kube_test_support)
kappa_unit_test(kube_event_recorder_test runtime/kube/event_recorder_test.cc
  LIBS kappa_kube kappa_kube_test_support)
find_package(Boost REQUIRED)
find_package(OpenSSL REQUIRED)
kappa_unit_test(kube_admission_server_test runtime/kube/admission_server_test.cc
  LIBS kappa_kube Boost::headers OpenSSL::SSL OpenSSL::Crypto)
kappa_unit_test(kube_leader_election_test runtime/kube/leader_election_test.cc
  LIBS kappa_kube kappa_kube_test_support)

# The apiserver fixture (tests/apiserver_fixture.cmake) normally comes before this file.
if(NOT DEFINED KAPPA_TEST_APISERVER_ENV)
  include(${CMAKE_CURRENT_LIST_DIR}/apiserver_fixture.cmake OPTIONAL)
endif()

# kappa_kube_test(NAME src... LIBS lib...): needs the local control plane (etcd +
# kube-apiserver) of the `apiserver` fixture. Some of these tests compact etcd (to provoke
# 410 Gone) and others watch from older resourceVersions, which a concurrent compaction
# would break: all take the RESOURCE_LOCK apiserver_history, and so should any other test
# that compacts or resumes watches against the shared fixture.
function(kappa_kube_test name)
  cmake_parse_arguments(T "" "" "LIBS" ${ARGN})
  add_executable(${name} ${T_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ${T_LIBS} kappa_kube_test_support
    GTest::gtest_main GTest::gmock)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES
    LABELS integration
    FIXTURES_REQUIRED apiserver
    TIMEOUT 120
    RESOURCE_LOCK apiserver_history
    ENVIRONMENT "KAPPA_TEST_APISERVER_ENV=${KAPPA_TEST_APISERVER_ENV}")
endfunction()

kappa_unit_test(kube_http_api_test runtime/kube/http_kube_api_test.cc
  LIBS kappa_kube kappa_kube_test_support)

kappa_kube_test(kube_api_it runtime/kube/kube_api_it.cc LIBS kappa_kube)
kappa_kube_test(kube_watch_it runtime/kube/kube_watch_it.cc LIBS kappa_kube)
kappa_kube_test(kube_coordination_it runtime/kube/kube_coordination_it.cc LIBS kappa_kube)
