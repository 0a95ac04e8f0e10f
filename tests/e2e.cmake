# End-to-end scenarios on the whole local stack (e2e/cluster-up.sh: a real single-node
# cluster, Kafka on its bridge, the operator installed by helm from the images that
# e2e.images_build made, workers as pods). Each scenario starts its own stack in a state
# directory of its own and stops it at the end; one at a time (the node owns the bridge
# kappa0 and its address: RESOURCE_LOCK kappa_node; kappa_crds keeps the kube-apiserver
# tests that install the CRD apart). Included by tests/CMakeLists.txt.
# kappa_e2e_scenario(NAME SCRIPT [TIMEOUT]): TIMEOUT in seconds, default 600.
# KAFKA_START_TIMEOUT gives a loaded machine's broker more time to (re)start.
function(kappa_e2e_scenario name script)
  set(timeout 600)
  if(ARGC GREATER 2)
    set(timeout ${ARGV2})
  endif()
  add_test(NAME e2e.${name}
    COMMAND bash ${CMAKE_SOURCE_DIR}/e2e/scenarios/${script} ${CMAKE_BINARY_DIR}/e2e-${name})
  set_tests_properties(e2e.${name} PROPERTIES
    FIXTURES_REQUIRED images
    RESOURCE_LOCK "kappa_crds;kappa_node"
    ENVIRONMENT "KAPPA_BIN=${CMAKE_RUNTIME_OUTPUT_DIRECTORY};KAPPA_IMAGES=${CMAKE_BINARY_DIR}/images;KAFKA_START_TIMEOUT=180"
    LABELS e2e
    TIMEOUT ${timeout})
endfunction()

kappa_e2e_scenario(first_version_serves first_version.sh)
kappa_e2e_scenario(live_catch_up live_catch_up.sh)
kappa_e2e_scenario(equal_logic_cutover equal_logic.sh)
kappa_e2e_scenario(buggy_candidate_blocked buggy_candidate.sh)
kappa_e2e_scenario(manual_promotion_and_rollback manual_rollback.sh)
kappa_e2e_scenario(supersede_replaying_candidate supersede.sh)
kappa_e2e_scenario(kafka_credentials_secret kafka_credentials.sh)
kappa_e2e_scenario(replay_quota_exceeded_then_resolved replay_quota.sh)
kappa_e2e_scenario(container_streams_cutover container_streams.sh)
kappa_e2e_scenario(ownership_guards ownership.sh)
kappa_e2e_scenario(serving_worker_health serving_health.sh)
kappa_e2e_scenario(parallel_run_catches_a_live_bug parallel_run.sh)
kappa_e2e_scenario(shadow_drift_rolls_back shadow.sh)
kappa_e2e_scenario(medallion_cascade medallion.sh 900)
kappa_e2e_scenario(on_close_cutover on_close.sh)
kappa_e2e_scenario(serve_follows_cutover serve.sh)

# The local node (e2e/node): a real single-node cluster with containerd, kubelet, the
# controller manager, the scheduler and kube-proxy; one at a time (it owns the bridge kappa0
# and its address), and never beside another stack (RESOURCE_LOCK kappa_crds).
add_test(NAME e2e.node_smoke
  COMMAND bash ${CMAKE_SOURCE_DIR}/e2e/node/smoke-test.sh ${CMAKE_BINARY_DIR}/e2e-node-smoke)
set_tests_properties(e2e.node_smoke PROPERTIES
  RESOURCE_LOCK "kappa_crds;kappa_node"
  LABELS e2e
  TIMEOUT 900)

# The images, from the repository's Dockerfiles with buildah (e2e/images/build-images.sh;
# alone: it compiles the project in a container), then the worker image as a restricted pod
# on the local node, reading from the broker at the node bridge's address.
add_test(NAME e2e.images_build
  COMMAND bash ${CMAKE_SOURCE_DIR}/e2e/images/build-images.sh ${CMAKE_BINARY_DIR}/images)
set_tests_properties(e2e.images_build PROPERTIES
  FIXTURES_SETUP images
  RUN_SERIAL TRUE
  LABELS e2e
  TIMEOUT 2400)
add_test(NAME e2e.worker_image_on_node
  COMMAND bash ${CMAKE_SOURCE_DIR}/e2e/node/worker-pod-test.sh ${CMAKE_BINARY_DIR}/e2e-worker-pod
          ${CMAKE_BINARY_DIR}/images)
set_tests_properties(e2e.worker_image_on_node PROPERTIES
  FIXTURES_REQUIRED images
  RESOURCE_LOCK "kappa_crds;kappa_node"
  ENVIRONMENT "KAPPA_BIN=${CMAKE_RUNTIME_OUTPUT_DIRECTORY}"
  LABELS e2e
  TIMEOUT 900)
kappa_e2e_scenario(replay_straggler straggler.sh)
