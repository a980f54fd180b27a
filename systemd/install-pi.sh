#!/bin/bash
# Install healthkiosk on Raspberry Pi OS (Bookworm, 64-bit) from a signed bundle.
#
#   sudo ./install-pi.sh --bundle DIR --config FILE --fleet-key FILE [--followup]
#
#   --bundle DIR      a signed release bundle (admin release build + sign): the
#                     directory with manifest.json and wheels/
#   --config FILE     the station's configuration (copied to /etc/healthkiosk/config.toml)
#   --fleet-key FILE  the fleet's PUBLIC key (admin keygen); releases must verify under it
#   --followup        also install the follow-up units (a server, not a kiosk)
#
# Idempotent: run it again to repair an installation. See docs/install-pi.md.
set -euo pipefail

ROOT=/opt/healthkiosk
DATA=/var/lib/healthkiosk
ETC=/etc/healthkiosk
USER_NAME=healthkiosk
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "install-pi: $*" >&2; exit 1; }

BUNDLE="" CONFIG="" FLEET_KEY="" FOLLOWUP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --bundle) BUNDLE="$2"; shift 2 ;;
        --config) CONFIG="$2"; shift 2 ;;
        --fleet-key) FLEET_KEY="$2"; shift 2 ;;
        --followup) FOLLOWUP=1; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) die "unknown argument $1" ;;
    esac
done
[ "$(id -u)" = 0 ] || die "run as root (sudo)"
[ -f "$BUNDLE/manifest.json" ] || die "--bundle must be a signed bundle (manifest.json missing)"
[ -f "$CONFIG" ] || die "--config FILE is required"
[ -f "$FLEET_KEY" ] || die "--fleet-key FILE (the public key) is required"
grep -q "BEGIN PUBLIC KEY" "$FLEET_KEY" || die "$FLEET_KEY is not a public key (never copy the private key to a station)"

echo "== packages"
apt-get update
apt-get install -y --no-install-recommends cage python3 python3-venv bluez libmtdev1 libgl1 libegl1 \
    libusb-1.0-0 fonts-wqy-microhei fonts-noto-cjk

echo "== service user and groups"
if ! id "$USER_NAME" >/dev/null 2>&1; then
    adduser --system --group --home "$DATA" --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi
for group in bluetooth dialout video render input; do
    if getent group "$group" >/dev/null; then usermod -aG "$group" "$USER_NAME"; fi
done

echo "== directories"
install -d -o root -g root -m 0755 "$ROOT" "$ROOT/releases"
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$DATA" "$DATA/health" "$DATA/kivy"
install -d -o root -g "$USER_NAME" -m 0750 "$ETC" "$ETC/keys"
install -o root -g "$USER_NAME" -m 0640 "$CONFIG" "$ETC/config.toml"
install -o root -g "$USER_NAME" -m 0644 "$FLEET_KEY" "$ETC/keys/fleet.pub"
grep -q '^\[update\]' "$ETC/config.toml" || cat >>"$ETC/config.toml" <<TOML

[update]
root = "$ROOT"
trusted_keys = ["$ETC/keys/fleet.pub"]
health_dir = "$DATA/health"
visit_lock = "$DATA/visit.lock"
TOML

echo "== udev rules for USB-serial adapters and USB receipt printers"
install -m 0644 "$HERE/99-healthkiosk-serial.rules" /etc/udev/rules.d/99-healthkiosk-serial.rules
install -m 0644 "$HERE/99-healthkiosk-printer.rules" /etc/udev/rules.d/99-healthkiosk-printer.rules
udevadm control --reload
udevadm trigger --subsystem-match=tty || true
udevadm trigger --subsystem-match=usb || true

echo "== bluetoothd without its battery plugin"
# BlueZ's battery plugin (5.48+) takes the Battery Service (0x180F) for itself
# and hides it from GATT clients, so the drivers could never read a monitor's
# battery level. -P battery leaves the service to us (bleak issue #393).
BLUETOOTHD=""
for candidate in /usr/libexec/bluetooth/bluetoothd /usr/lib/bluetooth/bluetoothd; do
    if [ -x "$candidate" ]; then BLUETOOTHD="$candidate"; break; fi
done
if [ -n "$BLUETOOTHD" ]; then
    DROPIN=/etc/systemd/system/bluetooth.service.d/healthkiosk.conf
    WANTED="$(printf '[Service]\nExecStart=\nExecStart=%s -P battery\n' "$BLUETOOTHD")"
    if [ "$(cat "$DROPIN" 2>/dev/null)" != "$WANTED" ]; then
        install -d -m 0755 "$(dirname "$DROPIN")"
        printf '%s\n' "$WANTED" >"$DROPIN"
        systemctl daemon-reload
        systemctl try-restart bluetooth.service || true
    fi
else
    echo "install-pi: bluetoothd not found; battery levels may stay unknown" >&2
fi

echo "== polkit: kiosk-sync may restart kiosk.service (remote config, restart, repair)"
install -d -m 0755 /etc/polkit-1/rules.d
install -m 0644 "$HERE/50-healthkiosk.rules" /etc/polkit-1/rules.d/50-healthkiosk.rules

echo "== systemd units"
UNITS=(kiosk.service kiosk-sync.service healthkiosk-update.service healthkiosk-update.timer
       healthkiosk-update-resume.service healthkiosk-rollback@.service
       healthkiosk-update-order.path healthkiosk-update-order.service)
if [ "$FOLLOWUP" = 1 ]; then
    UNITS+=(followup.service followup-ingest@.service followup-rollout.service)
fi
for unit in "${UNITS[@]}"; do
    install -m 0644 "$HERE/$unit" "/etc/systemd/system/$unit"
done
systemctl daemon-reload

echo "== first release (verified and installed by the updater itself)"
BOOT="$(mktemp -d /var/tmp/healthkiosk-bootstrap.XXXXXX)"
trap 'kill "${SERVER_PID:-0}" 2>/dev/null || true; rm -rf "$BOOT"' EXIT
python3 -m venv "$BOOT/venv"
# The bootstrap venv only runs the updater once; the updater checks the
# manifest's signature and every file before anything lands in $ROOT.
"$BOOT/venv/bin/pip" install --quiet --no-index --find-links "$BUNDLE/wheels" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["requirement"])' "$BUNDLE/manifest.json")"
PORT=48081
"$BOOT/venv/bin/healthkiosk" admin release serve --dir "$(dirname "$(readlink -f "$BUNDLE")")" --port "$PORT" &
SERVER_PID=$!
sleep 2
systemctl enable kiosk-sync.service kiosk.service healthkiosk-update.timer healthkiosk-update-resume.service \
    healthkiosk-update-order.path
systemctl disable getty@tty1.service || true
"$BOOT/venv/bin/healthkiosk" --config "$ETC/config.toml" admin update apply \
    --manifest-url "http://127.0.0.1:$PORT/$(basename "$(readlink -f "$BUNDLE")")/manifest.json"

if [ "$FOLLOWUP" = 1 ]; then
    systemctl enable --now followup.service followup-ingest@1.service followup-rollout.service
fi
systemctl start healthkiosk-update.timer
echo "== done: $(readlink "$ROOT/current") is current"
