#!/usr/bin/env python3
"""kappa-worker runs on any x86-64: no AVX (VEX-encoded) instruction in it outside the
functions simdjson itself dispatches at run time (namespaces simdjson::haswell and
simdjson::icelake, entered only on a CPU that has them). The Haswell JSON kernel lives in
kappa-worker-haswell.so, loaded only on such a CPU; it must hold AVX code, else this check
could not tell the two apart.

  check_portable_binary.py KAPPA_WORKER KAPPA_WORKER_HASWELL_SO
"""
import collections
import re
import subprocess
import sys

VEX = re.compile(r"\sv[a-z0-9]+\s.*%[xy]mm")
FUNC = re.compile(r"^[0-9a-f]+ <(.*)>:$")
DISPATCHED = ("simdjson::haswell::", "simdjson::icelake::")


def avx_by_function(path):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", path],
                         check=True, capture_output=True, text=True).stdout
    counts, fn = collections.Counter(), "?"
    for line in out.splitlines():
        m = FUNC.match(line)
        if m:
            fn = m.group(1)
        elif VEX.search(line):
            counts[fn] += 1
    return counts


binary, module = sys.argv[1], sys.argv[2]
undispatched = {f: n for f, n in avx_by_function(binary).items() if not f.startswith(DISPATCHED)}
in_module = sum(avx_by_function(module).values())
print("kappa-worker: %d AVX instructions outside simdjson's own dispatch; "
      "kappa-worker-haswell.so: %d" % (sum(undispatched.values()), in_module))
for f, n in sorted(undispatched.items(), key=lambda x: -x[1])[:10]:
    print("  %d in %s" % (n, f[:160]))
sys.exit(0 if not undispatched and in_module > 0 else 1)
