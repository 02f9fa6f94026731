#!/usr/bin/env bash
# Prepares a CUDA build of bionas on a machine WITHOUT a GPU or a CUDA install:
# fetches Debian's CUDA headers (nvidia-cuda-dev) and the driver library
# (libcuda1) as .deb files, unpacks them into a cache folder (no install, no
# driver, nothing outside the cache touched), and prints the CGO flags.
#
# Debian's contrib/non-free components are added through a private apt
# configuration inside the cache, so the machine's own apt sources, lists and
# state are left exactly as they were.
#
#   eval "$(scripts/cuda/prepare.sh)"   # exports CGO_CFLAGS, CGO_LDFLAGS
#
# Env: BIONAS_CUDA_CACHE (default $HOME/.cache/bionas-cuda),
#      DEBIAN_MIRROR (default http://deb.debian.org/debian), DEBIAN_SUITE (default bookworm).
# Idempotent: a cache that already holds cuda.h and libcuda.so.1 is reused.
set -euo pipefail

cache="${BIONAS_CUDA_CACHE:-$HOME/.cache/bionas-cuda}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="${DEBIAN_SUITE:-bookworm}"
arch="$(dpkg --print-architecture)"
triplet="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
root="$cache/root"
inc="$root/usr/include"
lib="$root/usr/lib/$triplet"

log() { echo "prepare: $*" >&2; }

if [ ! -f "$inc/cuda.h" ] || [ ! -e "$lib/libcuda.so.1" ]; then
  mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial" "$cache/debs" "$root"
  # Why a private apt tree: adding contrib/non-free to /etc/apt would change
  # what every later apt-get on this machine sees.
  cat >"$cache/apt/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main contrib non-free non-free-firmware
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite-updates main contrib non-free non-free-firmware
SRC
  aptopts=(
    -o "Dir::Etc::sourcelist=$cache/apt/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$cache/apt/lists"
    -o "Dir::Cache=$cache/apt/cache"
    -o "Dir::State::status=/dev/null"
    -o "APT::Architecture=$arch"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
    -q
  )
  log "apt-get update (private lists in $cache/apt)"
  apt-get "${aptopts[@]}" update >&2
  log "apt-get download nvidia-cuda-dev libcuda1"
  (cd "$cache/debs" && apt-get "${aptopts[@]}" download nvidia-cuda-dev libcuda1 >&2)
  for deb in "$cache"/debs/*.deb; do
    log "unpack $(basename "$deb")"
    # Only what a cgo build needs: the headers and the driver library.
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$root" --wildcards \
      './usr/include/*' "./usr/lib/$triplet/libcuda.so*" "./usr/lib/$triplet/nvidia/current/libcuda.so*" 2>/dev/null || true
  done
  # libcuda1 may keep the real library under nvidia/current; the linker wants
  # libcuda.so in the -L folder, and the binary must record libcuda.so.1.
  if [ ! -e "$lib/libcuda.so.1" ] && ls "$lib"/nvidia/current/libcuda.so.1 >/dev/null 2>&1; then
    cp -P "$lib"/nvidia/current/libcuda.so* "$lib/"
  fi
fi
rm -f "$cache"/debs/*.deb # 770 MB the unpacked tree no longer needs
[ -f "$inc/cuda.h" ] || { log "no cuda.h under $inc after unpacking"; exit 1; }
[ -e "$lib/libcuda.so.1" ] || { log "no libcuda.so.1 under $lib after unpacking"; exit 1; }
[ -e "$lib/libcuda.so" ] || ln -sf libcuda.so.1 "$lib/libcuda.so"
log "CUDA headers in $inc, libcuda in $lib"
echo "export CGO_ENABLED=1"
echo "export CGO_CFLAGS='-I$inc'"
echo "export CGO_LDFLAGS='-L$lib'"
