#!/bin/sh
# Framehouse setup: installs what the project needs on Debian 12, builds it,
# then runs the demo or the tests.
#
#   ./setup.sh run     install, build, and run the demo: a demo store, a key, and the
#                      engine transcoding a generated sample
#   ./setup.sh test    install, build, and run every test label
#   ./setup.sh asan    install, build with AddressSanitizer + UBSan, run the tests
#   ./setup.sh deps    install the packages only
#
# Idempotent: when every package is already present no apt command runs.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# Packages from bookworm itself.
PACKAGES="build-essential cmake ninja-build pkg-config git clang-format
qt6-base-dev qt6-base-dev-tools qt6-charts-dev qt6-svg-dev qt6-tools-dev
qt6-tools-dev-tools qt6-l10n-tools qtkeychain-qt6-dev libssl-dev
libavformat-dev libavcodec-dev libavfilter-dev libavutil-dev libswscale-dev
libswresample-dev libhttp-parser-dev libseccomp-dev
dbus dbus-bin dbus-daemon gnome-keyring libsecret-tools
sqlite3 openssl curl sslscan ffmpeg xvfb xauth
clang libclang-rt-14-dev prometheus wrk nginx-light"
# Packages that must come from bookworm-backports (bookworm ships SQLCipher 3.4.1).
BACKPORTS_PACKAGES="libsqlcipher-dev libsqlcipher1"
SQLCIPHER_MIN=4.0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed_version() {
    dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null |
        awk '$1 == "installed" { print $2 }'
}

missing_packages() {
    for p in $PACKAGES; do
        [ -n "$(installed_version "$p")" ] || printf '%s ' "$p"
    done
}

sqlcipher_ok() {
    v=$(installed_version libsqlcipher-dev)
    [ -n "$v" ] && dpkg --compare-versions "$v" ge "$SQLCIPHER_MIN"
}

# Prints the URI of the machine's own Debian archive source (the one that
# serves the "bookworm" suite), from deb822 files or the one-line format.
debian_archive_uri() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (uri != "" && suites ~ /(^| )bookworm( |$)/ && types ~ /(^| )deb( |$)/)
                    { print uri; found = 1; exit }
                uri = ""; suites = ""; types = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]*#/ { next }
            tolower($1) == "uris:"   { uri = $2 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 " " }
            tolower($1) == "types:"  { $1 = ""; types = $0 " " }
            END { if (!found) flush() }
        ' "$f"
    done | head -n 1 | grep . && return 0
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                           if ($(i + 1) == "bookworm") { print $i; exit } }' | grep .
}

enable_backports() {
    if apt-cache policy 2>/dev/null | grep -q 'bookworm-backports'; then
        return 0
    fi
    uri=$(debian_archive_uri) || {
        echo "setup: no Debian 'bookworm' apt source found to reuse for bookworm-backports" >&2
        exit 1
    }
    echo "setup: enabling bookworm-backports from the existing Debian source"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" |
        as_root tee /etc/apt/sources.list.d/framehouse-backports.sources >/dev/null
}

install_deps() {
    missing=$(missing_packages)
    if [ -z "$missing" ] && sqlcipher_ok; then
        return 0
    fi
    enable_backports
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    # --no-install-recommends keeps Qt's stock QSQLITE plugin off the machine:
    # the project ships its own SQLCipher driver and must never load it.
    # shellcheck disable=SC2086
    [ -z "$missing" ] || as_root apt-get install -y -q --no-install-recommends $missing
    # shellcheck disable=SC2086
    sqlcipher_ok || as_root apt-get install -y -q --no-install-recommends -t bookworm-backports $BACKPORTS_PACKAGES
    sqlcipher_ok || { echo "setup: SQLCipher >= $SQLCIPHER_MIN could not be installed" >&2; exit 1; }
}

build() {
    preset=$1
    if [ ! -f "build/$preset/CMakeCache.txt" ]; then
        cmake --preset "$preset"
    fi
    cmake --build --preset "$preset"
}

run_tests() {
    preset=$1
    # The whole suite: tst_secretscan then insists on a full transcript.
    FRAMEHOUSE_FULL_TEST_RUN=1 ctest --preset "$preset"
}

demo() {
    store="$here/build/demo-store"
    keyfile="$here/build/demo-store.key"
    media="$here/build/demo-media"
    bin="$here/build/dev/bin"
    ctl="$bin/framehousectl"
    set -- --store "$store" --key-file "$keyfile"
    first=no
    [ -f "$store/framehouse.db" ] || first=yes
    # init is idempotent: it also creates the pepper and audit key if missing.
    "$ctl" store init "$@"
    mkdir -p "$media/in" "$media/out"
    if [ "$first" = yes ]; then
        "$ctl" keys create "$@" --name demo --owner-id demo --owner-name "Demo operator" \
            --scopes jobs:submit,jobs:read --expires-in-days 1
    fi
    roots=$("$ctl" farm roots list "$@")
    for kind in input output; do
        dir=$media/in
        [ "$kind" = input ] || dir=$media/out
        echo "$roots" | grep -q "^$kind  *$dir\$" || "$ctl" farm roots add "$kind" "$dir" "$@"
    done
    "$ctl" store check "$@"
    "$ctl" store info "$@"
    "$ctl" keys list "$@" --all

    # The main job: the engine transcodes a generated sample.
    [ -f "$media/in/sample.mp4" ] || ffmpeg -nostdin -loglevel error \
        -f lavfi -i testsrc2=size=1280x720:rate=30:duration=5 \
        -f lavfi -i sine=frequency=440:sample_rate=48000:duration=5 \
        -c:v libx264 -preset veryfast -c:a aac -shortest "$media/in/sample.mp4"
    "$bin/framehoused" "$@" --log-file "$here/build/demo-engine.log" 2>/dev/null &
    engine=$!
    trap 'kill "$engine" 2>/dev/null || true' EXIT INT TERM
    rm -f "$media/out/sample.mp4" # outputs are never replaced by another job
    "$ctl" jobs submit "$media/in/sample.mp4" --preset web-720p-h264 --wait "$@"
    "$ctl" farm status "$@"
    "$ctl" farm hw "$@"
    # The HTTPS API: the post-deployment check against the engine, pinned to
    # its self-signed certificate, with a key made for it and revoked after.
    "$ctl" api info "$@"
    pin=$("$ctl" api info "$@" --json | sed -n 's/.*"sha256": *"\([^"]*\)".*/\1/p')
    created=$("$ctl" keys create "$@" --name demo-verify --owner-id demo \
        --scopes jobs:read --expires-in-days 1 --json)
    token=$(echo "$created" | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
    key_id=$(echo "$created" | sed -n 's/^    "id": *"\([^"]*\)".*/\1/p')
    "$ctl" verify https://127.0.0.1:8443 --key "$token" --pin "$pin"
    "$ctl" keys revoke "$key_id" --reason "demo check done" "$@" >/dev/null
    kill "$engine"
    wait "$engine" || true
    trap - EXIT INT TERM
    "$ctl" audit verify "$@"
}

case "${1:-}" in
run) install_deps; build dev; demo ;;
test) install_deps; build dev; run_tests dev ;;
asan) install_deps; build asan; run_tests asan ;;
deps) install_deps ;;
*) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
