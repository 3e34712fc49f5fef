#!/bin/sh
# Installs the Debian packages rtmp_server builds and tests with, if any are missing.
# A no-op when everything is present; prints the apt-get line when not run as root.
set -e

PKGS="g++ make pkg-config libconfig-dev check libjemalloc-dev libssl-dev
libcurl4-openssl-dev ffmpeg rtmpdump gstreamer1.0-tools gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad gstreamer1.0-libav nginx libnginx-mod-rtmp clang
libfuzzer-14-dev libclang-rt-14-dev curl python3 procps iproute2 man-db openssl
prometheus chromium nodejs"
# nodesource's nodejs carries its own npm, which Debian's npm package would conflict with
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

# The browser test's npm packages (playwright-core, hls.js), pinned by package-lock.json;
# never committed.
npm_deps() {
    dir="$(dirname "$0")/../tests/browser"
    if [ -f "$dir/package-lock.json" ] && [ ! -d "$dir/node_modules" ] && command -v npm >/dev/null 2>&1; then
        echo "install-deps: npm ci in tests/browser"
        # offline, the browser test reports it; the rest of the build does not depend on it
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
            echo "install-deps: npm ci failed; tests/e2e/test_browser.py will fail" >&2
    fi
}

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    npm_deps
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the nginx and prometheus packages from starting system services
had_policy=0
[ -e /usr/sbin/policy-rc.d ] && had_policy=1
[ $had_policy -eq 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; }
apt-get install -y -qq --no-install-recommends $missing || status=$?
[ $had_policy -eq 1 ] || rm -f /usr/sbin/policy-rc.d
[ -n "$status" ] || npm_deps
exit ${status:-0}
