#!/usr/bin/env bash
# Builds the pod sandbox ("pause") image of the local node as an OCI archive: pause.c of the
# pinned k8s.io/kubernetes module (build/pause/linux), compiled statically with gcc, alone in
# a one-layer image FROM scratch named kappa.local/pause:<version>. No registry is reachable
# here; node-up.sh imports the archive into containerd.
#
#   pause-image.sh OUT.tar
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../cluster/lib.sh
source "$here/../cluster/lib.sh"
out=${1:?usage: pause-image.sh OUT.tar}
version=v3.10.2
src="$kappa_cache/go/mod/k8s.io/kubernetes@$KUBERNETES_VERSION/build/pause/linux/pause.c"
[ -f "$src" ] || { echo "pause-image: $src not found (e2e/cluster/build-control-plane.sh downloads it)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -Os -static -Wall -DVERSION="$version" -o "$work/pause" "$src"
strip "$work/pause"
python3 - "$work/pause" "$out" "kappa.local/pause:${version#v}" <<'PY'
import hashlib, io, json, sys, tarfile, time
binary, out, name = sys.argv[1:4]

def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), data

layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    info = tarfile.TarInfo("pause")
    data = open(binary, "rb").read()
    info.size, info.mode, info.mtime = len(data), 0o755, 0
    t.addfile(info, io.BytesIO(data))
layer_digest, layer_bytes = blob(layer.getvalue())
config = {
    "architecture": "amd64", "os": "linux",
    "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
    "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    "created": "1970-01-01T00:00:00Z",
}
config_digest, config_bytes = blob(json.dumps(config, sort_keys=True).encode())
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": config_digest, "size": len(config_bytes)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest, "size": len(layer_bytes)}],
}
manifest_digest, manifest_bytes = blob(json.dumps(manifest, sort_keys=True).encode())
index = {
    "schemaVersion": 2,
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": manifest_digest, "size": len(manifest_bytes),
                   "annotations": {"io.containerd.image.name": name,
                                   "org.opencontainers.image.ref.name": name.split(":")[1]}}],
}
with tarfile.open(out, "w") as t:
    def add(path, data):
        info = tarfile.TarInfo(path)
        info.size, info.mtime = len(data), 0
        t.addfile(info, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", json.dumps(index).encode())
    for digest, data in ((layer_digest, layer_bytes), (config_digest, config_bytes),
                         (manifest_digest, manifest_bytes)):
        add("blobs/sha256/" + digest.split(":")[1], data)
print(f"pause-image: {name} ({len(layer_bytes)} byte layer) in {out}")
PY
