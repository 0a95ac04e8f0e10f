# kappa-operator: the commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
JOBS ?= $(shell nproc)
BUILD := build
ASAN_BUILD := build/asan
CMAKE_FLAGS ?=
CTEST_ARGS ?=

.PHONY: help bootstrap build build-asan test unit kafka-up kafka-down apiserver-up apiserver-down bench fmt fmt-check clean

help:
	@echo "make test        install what is missing, build with ASan+UBSan, run every test"
	@echo "make build       release build; binaries in build/bin/"
	@echo "make kafka-up    start a local single-node Kafka (writes .local/kafka.env)"
	@echo "make kafka-down  stop it"
	@echo "make bench       benchmarks; prints BENCH lines, writes bench/out/results.json"
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
	  ctest --output-on-failure --timeout 600 -j 2 $(CTEST_ARGS)

kafka-up: bootstrap
	@e2e/kafka/kafka-up.sh .local

kafka-down:
	@e2e/kafka/kafka-down.sh .local

# etcd + kube-apiserver on loopback (writes .local/apiserver.env: KUBECONFIG=...).
apiserver-up:
	@e2e/cluster/apiserver-up.sh .local

apiserver-down:
	@e2e/cluster/apiserver-down.sh .local

bench: build
	@bench/run.sh $(BUILD)

fmt:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

fmt-check:
	@git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD)
