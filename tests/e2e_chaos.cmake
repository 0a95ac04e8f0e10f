# End-to-end chaos scenarios on the whole local stack (see tests/e2e.cmake): the operator
# killed during cutovers, a worker killed mid-replay, the broker restarted mid-replay, the
# leader of two operator replicas killed mid-cutover. Each starts its own stack in a state
# directory of its own; they install the kappa.io CRD, hence RESOURCE_LOCK kappa_crds.
# Registered with kappa_e2e_scenario (tests/e2e.cmake, included first), with longer timeouts.
kappa_e2e_scenario(leader_failover leader_failover.sh 600)
kappa_e2e_scenario(chaos_operator chaos_operator.sh 900)
kappa_e2e_scenario(chaos_worker chaos_worker.sh 900)
kappa_e2e_scenario(broker_restart broker_restart.sh 1200)
