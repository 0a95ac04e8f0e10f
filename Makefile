# kappa-operator: the commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
JOBS ?= $(shell nproc)
BUILD := build
ASAN_BUILD := build/asan
CMAKE_FLAGS ?=
CTEST_ARGS ?=

.PHONY: help bootstrap build build-asan test unit images kafka-up kafka-down apiserver-up apiserver-down node-up node-down cluster-up cluster-down demo demo-medallion bench soak fmt fmt-check clean

help:
	@echo "make test        install what is missing, build with ASan+UBSan, run every test and the fuzzers"
	@echo "make build       release build; binaries in build/bin/"
	@echo "make kafka-up    start a local single-node Kafka (writes .local/kafka.env)"
	@echo "make kafka-down  stop it"
	@echo "make images      build the operator and worker images with buildah (build/images)"
	@echo "make cluster-up  the real node, Kafka and the operator installed by helm (.local/cluster.env)"
	@echo "make demo        cluster-up, then a live v1 -> v2 cutover and a buggy v3 blocked"
	@echo "make demo-medallion  cluster-up, then Bronze -> Silver -> Gold: a Silver fix flips, Gold follows by itself"
	@echo "make cluster-down stop all of it"
	@echo "make node-up     start a real single-node Kubernetes cluster (writes .local/node.env)"
	@echo "make node-down   stop it, leaving no process, mount, bridge, iptables chain or cgroup"
	@echo "make bench       benchmarks; prints BENCH lines, writes bench/out/results.json"
	@echo "make soak        repeated cutovers for an hour (KAPPA_SOAK_SECONDS), operator RSS growth"
	@echo "make fmt         clang-format every C++ file"

bootstrap:
	@scripts/bootstrap.sh

build: bootstrap
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@echo "build: binaries in $(BUILD)/bin: $$(ls $(BUILD)/bin | tr '\n' ' ')"

build-asan: bootstrap
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKAPPA_SANITIZE=ON \
	  -DKAPPA_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# Every test, against the sanitizer build. Integration tests get their own broker through
# a CTest fixture, so this needs nothing running beforehand.
test: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure --timeout 900 -j 2 $(CTEST_ARGS)
	@$(MAKE) --no-print-directory fuzz

# libFuzzer targets, each run for FUZZ_SECONDS from the seed corpus; a crash fails the run.
FUZZ_BUILD := build/fuzz
FUZZ_SECONDS ?= 30
fuzz: bootstrap
	@CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKAPPA_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@for t in event program; do \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$t && cp -n tests/fuzz/corpus/$$t/* $(FUZZ_BUILD)/corpus-$$t/ ; \
	  echo "fuzz: $${t}_fuzz for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_BUILD)/bin/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 $(FUZZ_BUILD)/corpus-$$t 2>$(FUZZ_BUILD)/$$t.log \
	    || { tail -n 60 $(FUZZ_BUILD)/$$t.log; exit 1; }; \
	  grep -E '^stat::number_of_executed_units' $(FUZZ_BUILD)/$$t.log; \
	done

kafka-up: bootstrap
	@e2e/kafka/kafka-up.sh .local

kafka-down:
	@e2e/kafka/kafka-down.sh .local

# etcd + kube-apiserver on loopback (writes .local/apiserver.env: KUBECONFIG=...).
apiserver-up:
	@e2e/cluster/apiserver-up.sh .local

apiserver-down:
	@e2e/cluster/apiserver-down.sh .local

# A real single-node Kubernetes cluster (root): etcd, kube-apiserver, containerd + runc,
# kubelet, controller manager, scheduler, kube-proxy (writes .local/node.env: KUBECONFIG=...).
node-up: bootstrap
	@e2e/node/node-up.sh .local

node-down:
	@e2e/node/node-down.sh .local

# The images from Dockerfile.operator and Dockerfile.worker, built with buildah on a Debian
# base made from the mirror (OCI archives and images.env in build/images; layers cached).
images: bootstrap
	@e2e/images/build-images.sh $(BUILD)/images

# The whole local stack: the real node, Kafka on its bridge, the images imported into the
# node, the operator installed by helm (writes .local/cluster.env).
cluster-up: build images
	@KAPPA_BIN=$${KAPPA_BIN:-$(BUILD)/bin} KAPPA_IMAGES=$${KAPPA_IMAGES:-$(BUILD)/images} e2e/cluster-up.sh .local

cluster-down:
	@e2e/cluster-down.sh .local

# A live v1 -> v2 cutover, then a buggy v3 blocked by validation, on the local stack.
demo: build cluster-up
	@e2e/demo.sh .local

demo-medallion: build cluster-up
	@e2e/demo-medallion.sh .local

bench: build images
	@bench/run.sh $(BUILD)

# Repeated cutovers on the local stack for KAPPA_SOAK_SECONDS (default 3600), sampling the
# operator's RSS; not part of test or bench.
soak: build images
	@bench/soak.sh $(BUILD)

fmt:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

fmt-check:
	@git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD)
