#!/usr/bin/env bash
# Builds the real-cluster rig (README, "The real-cluster rig") from pinned Go modules into
# target/rig/bin (or $MCFLOW_RIG_BIN): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok, and
# linkerd + its controller at 2.17, 2.18 and 2.19 (from the Go module proxy, else from a local
# linkerd2 clone named by LINKERD2_SRC). Go's module and build caches make a second run quick. Exit 2 with one line when go or the module proxy is missing (nothing can be built here),
# 1 when a control-plane binary fails to build; a linkerd release the proxy does not serve is
# reported and left out.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${MCFLOW_RIG_BIN:-$root/target/rig/bin}
logs=$root/target/rig/logs
mkdir -p "$out" "$logs"

if ! command -v go >/dev/null 2>&1; then
    echo "rig: not built: no Go toolchain (go) on PATH; install Go 1.24 or newer to build the rig"
    exit 2
fi

# The pins. Kubernetes: k8s.io/kubernetes and its staging modules (rig/kube/go.mod); etcd and
# kwok: rig/etcd/go.mod, rig/kwok/go.mod. go.sum pins every module by hash.
KUBE_VERSION=v1.33.13
linkerd_releases=(
    # version tag commit (a pseudo-version: linkerd2's tags are not semver)
    "2.17 edge-24.11.8 v0.0.0-20241126214745-43335fd90603"
    "2.18 edge-25.4.4 v0.0.0-20250421210547-0fe0ad015ec1"
    "2.19 edge-25.10.7 v0.0.0-20251029215008-0ebd74b02665"
)

# Everything below reaches only the Go module proxy, and only through `go`.
if ! err=$(go mod download -C "$root/rig/kube" k8s.io/kubernetes 2>&1); then
    echo "rig: not built: the Go module proxy did not serve k8s.io/kubernetes@$KUBE_VERSION: $(echo "$err" | grep -v '^go: downloading' | head -n 1)"
    exit 2
fi

failed=()
# build NAME MODULE_DIR PACKAGE [go build flags...]: builds one program, timed, log in $logs.
build() {
    local name=$1 dir=$2 pkg=$3
    shift 3
    local t0=$SECONDS
    if nice -n 10 go build -C "$dir" -trimpath "$@" -o "$out/$name" "$pkg" >"$logs/$name.log" 2>&1; then
        printf 'rig: built %-28s in %4ss\n' "$name" $((SECONDS - t0))
    else
        printf 'rig: FAILED %-27s after %ss (log: %s):\n' "$name" $((SECONDS - t0)) "$logs/$name.log"
        grep -v '^go: downloading' "$logs/$name.log" | tail -n 5 | sed 's/^/    /'
        failed+=("$name")
    fi
}

kminor=${KUBE_VERSION#v1.}
kminor=${kminor%%.*}
kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kminor -X k8s.io/component-base/version.gitTreeState=clean"
build etcd "$root/rig/etcd" go.etcd.io/etcd/server/v3 -ldflags "-s -w"
build kube-apiserver "$root/rig/kube" k8s.io/kubernetes/cmd/kube-apiserver -ldflags "$kube_ldflags"
build kube-controller-manager "$root/rig/kube" k8s.io/kubernetes/cmd/kube-controller-manager -ldflags "$kube_ldflags"
build kube-scheduler "$root/rig/kube" k8s.io/kubernetes/cmd/kube-scheduler -ldflags "$kube_ldflags"
build kwok "$root/rig/kwok" sigs.k8s.io/kwok/cmd/kwok -ldflags "-s -w"

# linkerd2 is a module with its own go.mod (no replaces), built in a writable copy of its module
# source: up to 2.18 the `prod` tag reads chart templates that `go generate` writes (vfsgen,
# bin/build-cli-bin upstream); from 2.19 they are go:embed'ed and need no generate step.
skipped=()
for rel in "${linkerd_releases[@]}"; do
    read -r ver tag pseudo <<<"$rel"
    src=$root/target/rig/src/linkerd2-$ver
    moddir=
    if ! info=$(go mod download -json "github.com/linkerd/linkerd2@$pseudo" 2>&1) || grep -q '"Error"' <<<"$info"; then
        reason=$(grep -o '"Error": ".*"' <<<"$info" | head -n 1 | sed 's/^"Error": "//; s/\\n.*//; s/"$//')
        # Else a local clone of linkerd2 (LINKERD2_SRC, a git repository) at the same tag; its Go
        # dependencies still come from the module proxy.
        if [ -n "${LINKERD2_SRC:-}" ] && git -C "$LINKERD2_SRC" cat-file -e "$tag^{commit}" 2>/dev/null; then
            echo "rig: linkerd-$ver from $LINKERD2_SRC at $tag (the Go module proxy does not serve github.com/linkerd/linkerd2)"
        else
            echo "rig: linkerd-$ver not built: the Go module proxy does not serve github.com/linkerd/linkerd2@$pseudo ($tag): ${reason:-$info}${LINKERD2_SRC:+; $LINKERD2_SRC has no tag $tag}"
            skipped+=("linkerd-$ver" "linkerd-controller-$ver")
            continue
        fi
    else
        moddir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")
    fi
    if [ ! -f "$src/.rig-$pseudo" ]; then
        rm -rf "$src" && mkdir -p "$src"
        if [ -n "$moddir" ]; then
            cp -r "$moddir/." "$src" && chmod -R u+w "$src"
        else
            git -C "$LINKERD2_SRC" archive "$tag" | tar -x -C "$src"
        fi
        if [ -f "$src/multicluster/static/templates.go" ]; then
            for d in pkg/charts/static jaeger/static multicluster/static viz/static; do
                if ! (cd "$src" && nice -n 10 go generate "./$d") >>"$logs/linkerd-$ver.generate.log" 2>&1; then
                    echo "rig: FAILED go generate ./$d of linkerd2 $tag (log: $logs/linkerd-$ver.generate.log)"
                    failed+=("linkerd-$ver")
                    continue 2
                fi
            done
        fi
        touch "$src/.rig-$pseudo"
    fi
    build "linkerd-$ver" "$src" ./cli -tags prod -ldflags "-s -w -X github.com/linkerd/linkerd2/pkg/version.Version=$tag"
    build "linkerd-controller-$ver" "$src" ./controller/cmd -ldflags "-s -w -X github.com/linkerd/linkerd2/pkg/version.Version=$tag"
done

echo "rig: versions (in $out):"
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    [ -x "$out/$b" ] || continue
    v=$("$out/$b" --version 2>&1 | head -n 1)
    printf '  %-26s %s\n' "$b" "$v"
done
for rel in "${linkerd_releases[@]}"; do
    read -r ver _ _ <<<"$rel"
    [ -x "$out/linkerd-$ver" ] && printf '  %-26s %s\n' "linkerd-$ver" "$("$out/linkerd-$ver" version --client --short 2>&1 | head -n 1)"
    [ -x "$out/linkerd-controller-$ver" ] && printf '  %-26s %s\n' "linkerd-controller-$ver" "built"
done
[ ${#skipped[@]} -gt 0 ] && echo "rig: left out (not served by the module proxy): ${skipped[*]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "rig: failed to build: ${failed[*]}"
    exit 1
fi
exit 0
