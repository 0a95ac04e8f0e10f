# Tests of controllers/. Included by tests/CMakeLists.txt.
kappa_unit_test(decide_test controllers/decide_test.cc LIBS kappa_controllers)
