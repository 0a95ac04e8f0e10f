# End-to-end chaos scenarios on the whole local stack (see tests/e2e.cmake): the operator
# killed during cutovers, a worker killed mid-replay, the broker restarted mid-replay, the
# leader of two operator replicas killed mid-cutover. Each starts its own stack in a state
# directory of its own; they install the kappa.io CRD, hence RESOURCE_LOCK kappa_crds.
# Timeouts are sized for the ASan build's binaries (2-3x slower than release) on a busy
# machine; KAFKA_START_TIMEOUT gives a loaded machine's broker more time to (re)start.
function(kappa_e2e_chaos name file timeout)
  add_test(NAME e2e.${name}
    COMMAND bash ${CMAKE_SOURCE_DIR}/e2e/scenarios/${file} ${CMAKE_BINARY_DIR}/e2e-${name})
  set_tests_properties(e2e.${name} PROPERTIES
    RESOURCE_LOCK kappa_crds
    ENVIRONMENT "KAPPA_BIN=${CMAKE_RUNTIME_OUTPUT_DIRECTORY};KAFKA_START_TIMEOUT=180"
    LABELS e2e
    TIMEOUT ${timeout})
endfunction()

kappa_e2e_chaos(leader_failover leader_failover.sh 600)
kappa_e2e_chaos(chaos_operator chaos_operator.sh 900)
kappa_e2e_chaos(chaos_worker chaos_worker.sh 900)
kappa_e2e_chaos(broker_restart broker_restart.sh 1200)
