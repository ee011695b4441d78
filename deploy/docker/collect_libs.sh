#!/bin/sh
# Runs in the build stage of deploy/docker/Dockerfile (Debian 12). Walks the
# shared-library closure of binaries (ldd) and writes either
#
#   collect_libs.sh packages OUTFILE BIN...
#       the Debian packages that own those libraries, one per line (glibc,
#       libgcc and zlib, present in every Debian image, left out), for a
#       slim Debian runtime image to apt-get install;
#   collect_libs.sh libs OUTDIR BIN...
#       copies of the libraries, except glibc, the NVIDIA driver's, the CUDA
#       libraries the nvidia/cuda runtime image provides (cudart, cuBLAS,
#       NCCL), libstdc++ and libgcc_s (newer ones ship in the Ubuntu 24.04
#       base), for a non-Debian runtime image (as deploy/bundle.sh does).
#
# Fails (exit 1) when a library is not found or, for `packages`, not owned by
# a Debian package.
set -eu
mode="$1"; out="$2"; shift 2

closure() {  # prints "soname path" for every library of every binary
  for b in "$@"; do
    ldd "$b" | awk '/=>/ { print $1, $3 }'
  done | sort -u
}

glibc_or_driver() {
  case "$1" in
    linux-vdso*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*) return 0 ;;
    libresolv.so*|libutil.so*|libnsl.so*|libanl.so*|libmvec.so*|libcrypt.so*) return 0 ;;
    libcuda.so*|libnvidia*) return 0 ;;
    *) return 1 ;;
  esac
}

owner() {  # the package owning a library file (usrmerge: try both paths)
  real="$(readlink -f "$1")"
  for p in "$real" "${real#/usr}" "$1"; do
    pkg="$(dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1)" || true
    [ -n "$pkg" ] && { echo "$pkg"; return 0; }
  done
  return 1
}

tmp="$(mktemp)"
closure "$@" > "$tmp"
if grep -q ' not$' "$tmp"; then
  echo "collect_libs: libraries not found:" >&2; grep ' not$' "$tmp" >&2; exit 1
fi

case "$mode" in
  packages)
    mkdir -p "$(dirname "$out")"
    : > "$out.tmp"
    while read -r soname path; do
      glibc_or_driver "$soname" && continue
      pkg="$(owner "$path")" || { echo "collect_libs: $path belongs to no Debian package" >&2; exit 1; }
      case "$pkg" in libc6|libgcc-s1|zlib1g) continue ;; esac
      echo "$pkg" >> "$out.tmp"
    done < "$tmp"
    sort -u "$out.tmp" > "$out"; rm -f "$out.tmp"
    echo "collect_libs: $(wc -l < "$out") runtime packages: $(tr '\n' ' ' < "$out")"
    ;;
  libs)
    mkdir -p "$out"
    while read -r soname path; do
      glibc_or_driver "$soname" && continue
      case "$soname" in
        libcudart.so*|libcublas.so*|libcublasLt.so*|libnccl.so*) continue ;;
        libstdc++.so*|libgcc_s.so*) continue ;;
      esac
      cp -L "$path" "$out/$soname"
      strip --strip-unneeded "$out/$soname" 2>/dev/null || true
    done < "$tmp"
    echo "collect_libs: $(ls "$out" | wc -l) libraries in $out"
    ;;
  *) echo "usage: collect_libs.sh packages|libs OUT BIN..." >&2; exit 2 ;;
esac
rm -f "$tmp"
