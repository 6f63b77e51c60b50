#!/bin/sh
# Runs a command in a private D-Bus session with an unlocked gnome-keyring,
# with HOME and XDG_RUNTIME_DIR in a throwaway directory.
set -eu
if [ -z "${FH_IN_KEYRING_SESSION:-}" ]; then
    export FH_IN_KEYRING_SESSION=1
    exec dbus-run-session -- "$0" "$@"
fi
scratch=$(mktemp -d)
# gnome-keyring-daemon leaves with the session bus that dbus-run-session ends.
trap 'rm -rf "$scratch"' EXIT
export HOME="$scratch" XDG_RUNTIME_DIR="$scratch" XDG_DATA_HOME="$scratch/data"
mkdir -p "$XDG_DATA_HOME"
eval "$(printf 'test-keyring-password' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
"$@"
