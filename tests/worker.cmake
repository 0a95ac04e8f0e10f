# kappa-worker tests: the program parser, the event parser and the engine (unit), and the
# worker process against the real broker (integration).
kappa_unit_test(program_test runtime/worker/program_test.cc LIBS kappa_worker_core)
kappa_unit_test(engine_test runtime/worker/engine_test.cc LIBS kappa_worker_core)
kappa_kafka_test(worker_it runtime/worker/worker_it.cc LIBS kappa_worker_core)
add_dependencies(worker_it kappa-worker kappa-loadgen)
kappa_kafka_test(catch_up_it runtime/kafka/catch_up_it.cc LIBS kappa_controllers kappa_kafka)
add_dependencies(catch_up_it kappa-worker)
