// LeakSanitizer suppressions for tests that use cpprestsdk: a failed request leaves a few
// pplx continuation objects of the response stream's close() unreleased inside the
// library (libcpprest 2.10.18). They are per failed request and not ours to free.
extern "C" const char* __lsan_default_suppressions() { return "leak:libcpprest.so\n"; }
