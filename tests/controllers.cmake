# Tests of controllers/. Included by tests/CMakeLists.txt.
kappa_unit_test(decide_test controllers/pipelineversion/decide_test.cc LIBS kappa_controllers)
kappa_unit_test(reconciler_test controllers/pipelineversion/reconciler_test.cc
  LIBS kappa_reconciler kappa_kube_test_support)
kappa_unit_test(kube_workload_runner_test
  controllers/pipelineversion/adapters/kube_workload_runner_test.cc
  LIBS kappa_adapters kappa_kube_test_support)
kappa_unit_test(triggers_test controllers/pipelineversion/triggers_test.cc LIBS kappa_reconciler)
kappa_unit_test(validation_runs_test controllers/pipelineversion/validation_runs_test.cc LIBS kappa_reconciler)
kappa_kafka_test(kafka_connector_it controllers/pipelineversion/adapters/kafka_connector_it.cc
  LIBS kappa_adapters)
