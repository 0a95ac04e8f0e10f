# Tests of the reconcile driver (controllers/pipelineversion/reconciler.*) and of
# kappa-operator's wiring. Included by tests/CMakeLists.txt.
add_library(kappa_operator_test_support STATIC support/process_workload_runner.cc)
target_link_libraries(kappa_operator_test_support PUBLIC kappa_controllers kappa_test_support)

kappa_unit_test(reconciler_test controllers/reconciler_test.cc
  LIBS kappa_reconciler kappa_kube_test_support)

