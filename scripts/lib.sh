# shellcheck shell=bash
# Reusable helpers for wedge's scripts. Source it:
#
#   . "$(dirname "$0")/lib.sh"
#   need_pkg mosquitto mosquitto-clients || exit 1
#
# Functions:
#   log MSG...              message on stderr, prefixed with the script's name
#   die MSG...              log and exit 1
#   is_root                 true when running as root
#   have_cmd CMD            true when CMD is on PATH
#   pkg_installed PKG       true when the Debian package PKG is installed
#   apt_update_once         apt-get update, at most once per script run
#   need_pkg PKG...         install missing Debian packages when root; when not
#                           root, name the missing packages and return 1
#   need_cmd CMD [PKG]      make sure CMD exists, installing PKG (default: CMD)
#   raise_nofile [N]        raise the soft open-file limit (to N or the hard one)

_lib_name=$(basename "${0:-wedge}")

log() { printf '%s: %s\n' "$_lib_name" "$*" >&2; }

die() {
	log "$@"
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

have_cmd() { command -v "$1" >/dev/null 2>&1; }

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

_APT_UPDATED=${_APT_UPDATED:-}

apt_update_once() {
	[ -n "$_APT_UPDATED" ] && return 0
	log "apt-get update"
	apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || return 1
	_APT_UPDATED=1
}

need_pkg() {
	local missing=() p
	for p in "$@"; do
		pkg_installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if ! is_root; then
		log "missing Debian package(s): ${missing[*]} (not root, cannot install: run 'apt-get install ${missing[*]}' as root)"
		return 1
	fi
	if ! have_cmd apt-get; then
		log "missing package(s) ${missing[*]} and no apt-get to install them"
		return 1
	fi
	apt_update_once || {
		log "apt-get update failed; cannot install ${missing[*]}"
		return 1
	}
	log "installing ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >&2; then
		log "could not install Debian package(s): ${missing[*]}"
		return 1
	fi
}

need_cmd() {
	have_cmd "$1" && return 0
	need_pkg "${2:-$1}" || return 1
	have_cmd "$1" || {
		log "package ${2:-$1} installed but command $1 still missing"
		return 1
	}
}

raise_nofile() {
	local hard want
	hard=$(ulimit -Hn)
	want=${1:-$hard}
	if [ "$hard" != unlimited ] && [ "$want" != unlimited ] && [ "$want" -gt "$hard" ]; then
		want=$hard
	fi
	ulimit -Sn "$want" 2>/dev/null || log "could not raise the open-file limit to $want (now $(ulimit -Sn))"
}
