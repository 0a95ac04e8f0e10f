# End-to-end chaos scenarios on the whole local stack (see tests/e2e.cmake): the operator pod's
# process killed during cutovers, a worker container killed and a worker pod force-deleted
# mid-replay, the broker restarted mid-replay, the leader of two operator pods killed
# mid-cutover, the kubelet killed and restarted mid-replay. Each starts its own stack.
# Registered with kappa_e2e_scenario (tests/e2e.cmake, included first), with longer timeouts.
kappa_e2e_scenario(leader_failover leader_failover.sh 600)
kappa_e2e_scenario(chaos_operator chaos_operator.sh 900)
kappa_e2e_scenario(chaos_worker chaos_worker.sh 900)
kappa_e2e_scenario(broker_restart broker_restart.sh 1200)
kappa_e2e_scenario(kubelet_restart kubelet_restart.sh 900)
