# Kubernetes client benchmarks (needs a running apiserver; see bench/kube_bench.cc).
add_executable(kube_bench ${CMAKE_CURRENT_LIST_DIR}/kube_bench.cc)
target_link_libraries(kube_bench PRIVATE kappa_kube CLI11::CLI11)
