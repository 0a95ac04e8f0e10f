#!/usr/bin/env python3
"""A small kube-apiserver client for the benchmarks (standard library only).

Reads the admin credentials from an apiserver.env written by e2e/cluster/apiserver-up.sh
(KUBE_APISERVER_URL, KUBE_CA_FILE, KUBE_ADMIN_CERT_FILE, KUBE_ADMIN_KEY_FILE).

  kube_client.py ENV create-plvs --count N --namespaces M --bootstrap HOST:PORT
        [--threads T] [--prefix bench] [--annotation KEY=VALUE ...]
      creates M namespaces bench-0..bench-(M-1) and N PipelineVersions spread evenly over
      them, each of a pipeline of its own; prints "created N in S s (R/s)" on stderr
  kube_client.py ENV count-phases [--prefix bench]
      prints JSON {phase: count} over the PipelineVersions of those namespaces
  kube_client.py ENV watch-alias NAMESPACE NAME
      watches ConfigMap NAME and prints one line per change of data.version:
      "<unix time with ns> <version> <resourceVersion>" (flushed), until killed
  kube_client.py ENV watch-plv NAMESPACE
      watches PipelineVersions and prints one line per change of status.phase:
      "<unix time> <name> <phase>" (flushed), until killed
  kube_client.py ENV watch-condition NAMESPACE TYPE
      watches PipelineVersions and prints one line per change of the status of their
      condition TYPE or of status.workerExits:
      "<unix time> <name> <status> <reason> <exited container ids, comma-separated>" (flushed),
      until killed
"""
import argparse
import http.client
import json
import queue
import ssl
import sys
import threading
import time
import urllib.parse


def load_env(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v
    return env


class Client:
    def __init__(self, env):
        url = urllib.parse.urlparse(env["KUBE_APISERVER_URL"])
        self.host, self.port = url.hostname, url.port
        self.ctx = ssl.create_default_context(cafile=env["KUBE_CA_FILE"])
        self.ctx.load_cert_chain(env["KUBE_ADMIN_CERT_FILE"], env["KUBE_ADMIN_KEY_FILE"])
        self.conn = None

    def connect(self, timeout=30):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None):
        for attempt in range(5):
            if self.conn is None:
                self.conn = self.connect()
            try:
                data = json.dumps(body).encode() if body is not None else None
                self.conn.request(method, path, body=data,
                                  headers={"Content-Type": "application/json",
                                           "Accept": "application/json"})
                resp = self.conn.getresponse()
                payload = resp.read()
            except (OSError, http.client.HTTPException):
                self.conn = None
                time.sleep(0.2 * (attempt + 1))
                continue
            if resp.status == 429 or resp.status >= 500:
                time.sleep(0.2 * (attempt + 1))
                continue
            return resp.status, (json.loads(payload) if payload else None)
        raise RuntimeError(f"{method} {path}: apiserver unavailable")

    def watch(self, path):
        """Yields watch events of a collection path (with its own connection)."""
        conn = self.connect(timeout=None)
        sep = "&" if "?" in path else "?"
        conn.request("GET", f"{path}{sep}watch=true&allowWatchBookmarks=false",
                     headers={"Accept": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"watch {path}: HTTP {resp.status} {resp.read()[:200]!r}")
        while True:
            line = resp.readline()
            if not line:
                return
            yield json.loads(line)


PLV = "/apis/kappa.io/v1alpha1"


def plv_body(name, ns, bootstrap, annotations):
    return {
        "apiVersion": "kappa.io/v1alpha1",
        "kind": "PipelineVersion",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {
            "pipeline": name,
            "version": "v1",
            "kafka": {"bootstrapServers": bootstrap},
            "source": {"topic": "bench-operator-source"},
            "processor": {"builtin": {"keyField": "user_id",
                                      "aggregates": [{"name": "events", "op": "count"}]}},
            "replay": {"replicas": 1},
            "catchUp": {"maxLagMessages": 0, "stableSeconds": 1},
        },
    }


def create_plvs(env, args):
    annotations = dict(a.split("=", 1) for a in args.annotation)
    namespaces = [f"{args.prefix}-{i}" for i in range(args.namespaces)]
    c = Client(env)
    for ns in namespaces:
        status, body = c.request("POST", "/api/v1/namespaces",
                                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        if status not in (201, 409):
            sys.exit(f"creating namespace {ns}: HTTP {status} {body}")
    work = queue.Queue()
    for i in range(args.count):
        work.put(i)
    errors = []

    def worker():
        client = Client(env)
        while True:
            try:
                i = work.get_nowait()
            except queue.Empty:
                return
            ns = namespaces[i % len(namespaces)]
            name = f"p{i}"
            status, body = client.request("POST", f"{PLV}/namespaces/{ns}/pipelineversions",
                                          plv_body(name, ns, args.bootstrap, annotations))
            if status not in (201, 409):
                errors.append(f"{ns}/{name}: HTTP {status} {json.dumps(body)[:300]}")
                return

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.time() - t0
    if errors:
        sys.exit("creating PipelineVersions failed: " + errors[0])
    print(f"created {args.count} PipelineVersions in {len(namespaces)} namespace(s) in "
          f"{secs:.1f} s ({args.count / secs:.0f}/s)", file=sys.stderr)


def count_phases(env, args):
    c = Client(env)
    counts = {}
    cont = ""
    while True:
        q = "?limit=500" + (f"&continue={urllib.parse.quote(cont)}" if cont else "")
        status, body = c.request("GET", f"{PLV}/pipelineversions{q}")
        if status != 200:
            sys.exit(f"listing PipelineVersions: HTTP {status}")
        for item in body["items"]:
            if not item["metadata"]["namespace"].startswith(args.prefix + "-"):
                continue
            phase = item.get("status", {}).get("phase", "") or "(none)"
            counts[phase] = counts.get(phase, 0) + 1
        cont = body["metadata"].get("continue", "")
        if not cont:
            break
    print(json.dumps(counts, sort_keys=True))


def watch_alias(env, args):
    c = Client(env)
    last = None
    path = (f"/api/v1/namespaces/{args.namespace}/configmaps"
            f"?fieldSelector=metadata.name%3D{args.name}")
    while True:
        for ev in c.watch(path):
            obj = ev.get("object", {})
            version = (obj.get("data") or {}).get("version", "")
            if ev.get("type") == "DELETED":
                version = ""
            if version != last:
                last = version
                rv = obj.get("metadata", {}).get("resourceVersion", "")
                print(f"{time.time():.6f} {version or '-'} {rv}", flush=True)


def watch_changes(env, namespace, state_of):
    """Prints "<unix time> <name> <state...>" whenever state_of(object) changes."""
    c = Client(env)
    seen = {}
    while True:
        for ev in c.watch(f"{PLV}/namespaces/{namespace}/pipelineversions"):
            obj = ev.get("object", {})
            name = obj.get("metadata", {}).get("name", "")
            state = state_of(ev.get("type"), obj)
            if seen.get(name) != state:
                seen[name] = state
                print(f"{time.time():.6f} {name} {' '.join(state)}", flush=True)


def watch_plv(env, args):
    def phase(kind, obj):
        return ("Deleted",) if kind == "DELETED" else ((obj.get("status") or {}).get("phase", "") or "-",)
    watch_changes(env, args.namespace, phase)


def watch_condition(env, args):
    def condition(kind, obj):
        conds = (obj.get("status") or {}).get("conditions") or []
        cond = next((x for x in conds if x.get("type") == args.type), {})
        exits = (obj.get("status") or {}).get("workerExits") or []
        return (cond.get("status", "-"), cond.get("reason", "-") or "-",
                ",".join(e.get("containerId", "-") for e in exits) or "-")
    watch_changes(env, args.namespace, condition)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("env")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("create-plvs")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--namespaces", type=int, default=1)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--prefix", default="bench")
    p.add_argument("--annotation", action="append", default=[])
    p = sub.add_parser("count-phases")
    p.add_argument("--prefix", default="bench")
    p = sub.add_parser("watch-alias")
    p.add_argument("namespace")
    p.add_argument("name")
    p = sub.add_parser("watch-plv")
    p.add_argument("namespace")
    p = sub.add_parser("watch-condition")
    p.add_argument("namespace")
    p.add_argument("type")
    args = ap.parse_args()
    env = load_env(args.env)
    {"create-plvs": create_plvs, "count-phases": count_phases, "watch-alias": watch_alias,
     "watch-plv": watch_plv, "watch-condition": watch_condition}[args.cmd](env, args)


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
