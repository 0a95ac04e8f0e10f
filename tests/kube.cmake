# Tests of runtime/kube. Included by tests/CMakeLists.txt.
