# Sourced by scripts/demo and scripts/test: installs what a fresh Debian machine
# lacks, creates .venv and installs healthkiosk into it (editable). With the
# `emulation` extra, also the emulation package (its own distribution, built
# from emulation/; a station's install never has it).
# Re-running is cheap: every step checks first.
set -euo pipefail

HK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HK_VENV="${HK_VENV:-$HK_ROOT/.venv}"
HK_PY="${HK_PYTHON:-python3}"

hk_log() { printf '\033[1m[healthkiosk]\033[0m %s\n' "$*" >&2; }

# Runs apt-get as root (directly, or through sudo); fails with the command to
# run when neither is possible.
hk_apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            hk_log "missing Debian packages: $*"
            hk_log "install them as root: apt-get install $*"
            return 1
        fi
    fi
    hk_log "installing Debian packages: $*"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Debian packages: command or file that shows it is there -> package.
hk_system_packages() {
    local want=()
    command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || want+=(mosquitto)
    if [ "${1:-}" = "test" ]; then
        command -v Xvfb >/dev/null 2>&1 || want+=(xvfb)
        command -v xdotool >/dev/null 2>&1 || want+=(xdotool)
        command -v chromium >/dev/null 2>&1 || want+=(chromium)
        # Chromium's own zh-CN words and formats (a date input shows 2026/12/07 in a
        # zh-CN browser, not the en-US 12/07/2026): the Chinese pages' browser tests.
        [ -f /usr/lib/chromium/locales/zh-CN.pak ] || want+=(chromium-l10n)
        ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
        # systemd: systemd-analyze verifies the units, and tests/systemd runs
        # kiosk-sync under a `systemd --user` of its own (no D-Bus needed).
        command -v systemd-analyze >/dev/null 2>&1 || want+=(systemd)
        [ -d /usr/share/fonts/opentype/noto ] || want+=(fonts-noto-cjk)
    fi
    [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || want+=(fonts-wqy-microhei)
    command -v espeak-ng >/dev/null 2>&1 || want+=(espeak-ng)
    # Kivy's SDL2 window needs OpenGL (Mesa's software renderer is enough) and mtdev.
    ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || want+=(libgl1 libgl1-mesa-dri)
    ldconfig -p 2>/dev/null | grep -q 'libmtdev.so.1' || want+=(libmtdev1)
    ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' || want+=(libegl1)
    command -v git >/dev/null 2>&1 || want+=(git)
    if [ ${#want[@]} -eq 0 ]; then
        return 0
    fi
    hk_apt_install "${want[@]}"
}

# hk_venv EXTRAS: healthkiosk[EXTRAS] into $HK_VENV, editable; when EXTRAS has
# `emulation`, emulation/ too, in the same pip run (its requirement
# healthkiosk-emulation is met by that folder, not by an index).
hk_venv() {
    local extras="$1"
    if [ ! -x "$HK_VENV/bin/python" ]; then
        hk_log "creating $HK_VENV"
        "$HK_PY" -m venv "$HK_VENV" 2>/dev/null || {
            hk_log "python3 -m venv failed (no ensurepip?): installing python3-venv"
            rm -rf "$HK_VENV"
            hk_apt_install python3-venv
            "$HK_PY" -m venv "$HK_VENV"
        }
    fi
    local stamp="$HK_VENV/.healthkiosk-installed-$extras"
    local also=()
    case ",$extras," in
        *,emulation,*) also=(-e "$HK_ROOT/emulation") ;;
    esac
    if [ ! -f "$stamp" ] || [ "$HK_ROOT/pyproject.toml" -nt "$stamp" ] \
        || [ "$HK_ROOT/emulation/pyproject.toml" -nt "$stamp" ]; then
        hk_log "installing healthkiosk[$extras] ${also[*]:+and emulation/ }into $HK_VENV"
        "$HK_VENV/bin/python" -m pip install -q --upgrade pip
        "$HK_VENV/bin/python" -m pip install -q -e "$HK_ROOT[$extras]" "${also[@]}"
        touch "$stamp"
    fi
}
