# kappa-worker tests: the program parser, the event parser and the engine (unit), and the
# worker process against the real broker (integration).
kappa_unit_test(program_test runtime/worker/program_test.cc LIBS kappa_worker_core)
kappa_unit_test(engine_test runtime/worker/engine_test.cc LIBS kappa_worker_core)
kappa_unit_test(parser_kernel_test runtime/worker/parser_kernel_test.cc LIBS kappa_worker_core)
if(TARGET kappa-worker-haswell)
  add_dependencies(parser_kernel_test kappa-worker-haswell)
  # Nothing tuned to a CPU in the binary itself (check_portable_binary.py).
  add_test(NAME worker.binary_runs_on_any_x86_64
    COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/runtime/worker/check_portable_binary.py
            $<TARGET_FILE:kappa-worker> $<TARGET_FILE:kappa-worker-haswell>)
  set_tests_properties(worker.binary_runs_on_any_x86_64 PROPERTIES LABELS unit)
endif()
kappa_kafka_test(worker_it runtime/worker/worker_it.cc LIBS kappa_worker_core)
add_dependencies(worker_it kappa-worker kappa-loadgen)
# The catch-up rule against a live source: alone, so that the worker's speed relative to its
# source (which decides how soon "caught up" can be seen) is the machine's, not what other
# tests leave of it.
add_executable(catch_up_it runtime/kafka/catch_up_it.cc)
target_link_libraries(catch_up_it PRIVATE kappa_controllers kappa_kafka kappa_test_support
  GTest::gtest_main GTest::gmock)
gtest_discover_tests(catch_up_it DISCOVERY_TIMEOUT 60 PROPERTIES
  LABELS integration
  FIXTURES_REQUIRED kafka
  RUN_SERIAL TRUE
  ENVIRONMENT "KAPPA_TEST_KAFKA_ENV=${KAPPA_TEST_KAFKA_STATE}/kafka.env")
add_dependencies(catch_up_it kappa-worker)
kappa_unit_test(dry_run_test runtime/worker/dry_run_test.cc LIBS kappa_worker_dry_run)
