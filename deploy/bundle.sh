#!/usr/bin/env bash
# Builds the release binaries (-c opt) and packs them, with every shared
# library they need that is not part of glibc or the NVIDIA driver, into
# _bundle/ (gitignored), for a GPU machine (x86-64 Ubuntu 24.04 with the
# NVIDIA driver; glibc there is newer than Debian 12's, so Debian's
# libstdc++ and libraries travel fine).
#
#   deploy/bundle.sh [--with-cublas] [--no-build]
#     --with-cublas  also carry libcublas/libcublasLt (~600 MB). By default
#                    they are NOT carried: run.sh finds them in the target's
#                    CUDA install (/usr/local/cuda/lib64) or its Python
#                    nvidia-cublas wheel; only libcudart (<1 MB) is carried.
#     --no-build     pack what bazel-bin already holds.
#   _bundle/run.sh <binary> [args...]   runs a bundled binary
#   _bundle/run.sh --ldd <binary>       its ldd under the same library path
#   _bundle/run.sh --print-env          the LD_LIBRARY_PATH it uses (eval-able)
#   _bundle/run.sh                      lists them
# Test data travels too: _bundle/shared/models/{stories260K,configs} (point
# INFERNUM_SHARED at _bundle/shared), and the device scripts of tests/gpu in
# _bundle/gpu (tests/gpu/run_device.sh runs everything from the bundle).
# Also writes _out/infernum-bundle.tar.xz (gitignored), the copy to carry to
# a device machine: tar xJf _out/infernum-bundle.tar.xz -C /tmp.
#
# Carried: the binaries (stripped copies) in _bundle/bin, their libraries in
# _bundle/lib. Never carried: glibc (libc, libm, libpthread, libdl, librt,
# ld-linux, ...), libcuda / libnvidia-* (the driver's).
set -euo pipefail
cd "$(dirname "$0")/.."
export BZ="${BZ:-bundle}"

with_cublas=0
build=1
for arg in "$@"; do
  case "$arg" in
    --with-cublas) with_cublas=1 ;;
    --no-build) build=0 ;;
    *) echo "usage: deploy/bundle.sh [--with-cublas] [--no-build]" >&2; exit 2 ;;
  esac
done

# bazel query takes no build flags, so it bypasses tools/bazelw (same
# output base).
bq() { bazel --output_base="$HOME/.cache/bazel-ob/$BZ" query "$@"; }

# The benchmarks, and the tests run_device.sh runs besides the gpu-tagged
# ones (the backend op tests include the cuda case; the factory test checks
# CreateBackend on the device).
targets=(//cli:infernum //kernels/cuda:cuda_bench //kernels:backend_ops_test
  //kernels/cuda:cuda_factory_test)
for t in //worker/server:infernum-worker //router:infernum-router; do
  if bq "$t" >/dev/null 2>&1; then targets+=("$t"); fi
done
# Every test tagged gpu (packages that fail to load are skipped).
mapfile -t gpu_tests < <(bq --keep_going 'attr(tags, "\bgpu\b", tests(//...))' \
  2>/dev/null || true)
targets+=("${gpu_tests[@]}")

if [ "$build" -eq 1 ]; then
  # --keep_going: a target another package broke is reported, not fatal.
  tools/bazelw build -c opt --keep_going "${targets[@]}" || true
fi
bin_root="$(tools/bazelw info -c opt bazel-bin 2>/dev/null)"

rm -rf _bundle
mkdir -p _bundle/bin _bundle/lib

# glibc and the driver stay on the target.
skip_lib() {
  case "$1" in
    linux-vdso*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*) return 0 ;;
    libresolv.so*|libutil.so*|libnsl.so*|libanl.so*|libmvec.so*|libcrypt.so*) return 0 ;;
    libcuda.so*|libnvidia*) return 0 ;;
    libcublas*|libcublasLt*|libnccl*) [ "$with_cublas" -eq 0 ] ;;
    *) return 1 ;;
  esac
}

missing=()
for t in "${targets[@]}"; do
  pkg="${t#//}"; pkg="${pkg%%:*}"; name="${t##*:}"
  src="$bin_root/$pkg/$name"
  if [ ! -x "$src" ]; then
    echo "warning: $t did not build; not bundled" >&2
    missing+=("$t")
    continue
  fi
  cp "$src" "_bundle/bin/$name"
  chmod u+w "_bundle/bin/$name"
  strip --strip-unneeded "_bundle/bin/$name"
done

# ldd lists the whole dependency closure of each binary.
for b in _bundle/bin/*; do
  ldd "$b" | awk '/=>/ { print $1, $3 }' | while read -r soname path; do
    skip_lib "$soname" && continue
    if [ "$path" = "not" ]; then echo "warning: $b needs $soname (not found here)" >&2; continue; fi
    [ -e "_bundle/lib/$soname" ] || cp -L "$path" "_bundle/lib/$soname"
  done
done
chmod -R u+w _bundle/lib
for lib in _bundle/lib/*; do strip --strip-unneeded "$lib" 2>/dev/null || true; done

# Test data (stories260K without its original/ llama2.c files, the model
# shape configs) and the device scripts.
shared="${INFERNUM_SHARED:-$(cd .. && pwd)/shared}"
[ -d "$shared/models" ] || shared=/work/shared
mkdir -p _bundle/shared/models/stories260K _bundle/shared/models/configs _bundle/gpu
cp "$shared"/models/stories260K/*.json "$shared"/models/stories260K/*.safetensors \
  _bundle/shared/models/stories260K/
cp "$shared"/models/configs/*.json _bundle/shared/models/configs/
cp tests/gpu/*.sh tests/gpu/*.py _bundle/gpu/ 2>/dev/null || true

cat > _bundle/run.sh <<'RUN'
#!/usr/bin/env bash
# Runs a bundled binary with the bundled libraries first on the search path,
# then the target's CUDA libraries (cuBLAS, unless bundled).
#   run.sh <binary> [args...] | run.sh --ldd <binary> | run.sh --print-env
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -eq 0 ]; then
  echo "usage: run.sh [--ldd] <binary> [args...] | run.sh --print-env; binaries:"
  ls "$here/bin"; exit 2
fi
paths="$here/lib"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && paths="$paths:$d"
done
if [ ! -e "$here/lib/libcublasLt.so.13" ] && ! ls /usr/local/cuda/lib64/libcublasLt.so.13 >/dev/null 2>&1; then
  # CUDA 13 cuBLAS from a Python wheel (nvidia-cublas), if present.
  for py in python3 /usr/bin/python3; do
    wheel="$("$py" -c 'import nvidia.cu13, os; print(os.path.join(nvidia.cu13.__path__[0], "lib"))' 2>/dev/null || \
             "$py" -c 'import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], "lib"))' 2>/dev/null || true)"
    [ -n "$wheel" ] && paths="$paths:$wheel" && break
  done
fi
export LD_LIBRARY_PATH="$paths${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
case "$1" in
  --print-env) echo "export LD_LIBRARY_PATH='$LD_LIBRARY_PATH'"; exit 0 ;;
  --ldd) exec ldd "$here/bin/$2" ;;
esac
name="$1"; shift
exec "$here/bin/$name" "$@"
RUN
chmod +x _bundle/run.sh
(cd _bundle && ls bin lib && find shared gpu -type f | sort) > _bundle/MANIFEST
# The compressed copy is what travels to a device machine (64 MiB limit):
#   tar xJf _out/infernum-bundle.tar.xz -C /tmp && /tmp/_bundle/run.sh <binary>
mkdir -p _out
tar cf - _bundle | xz -T2 -6 > _out/infernum-bundle.tar.xz
echo "bundle: $(du -sh _bundle | cut -f1) in _bundle ($(ls _bundle/bin | wc -l) binaries, $(ls _bundle/lib | wc -l) libraries); compressed $(du -h _out/infernum-bundle.tar.xz | cut -f1) in _out/infernum-bundle.tar.xz"
[ "$with_cublas" -eq 1 ] || echo "note: cuBLAS not carried; the target needs CUDA 13 cuBLAS (see run.sh)"
if [ "${#missing[@]}" -gt 0 ]; then
  echo "NOT bundled (build failed): ${missing[*]}" >&2
  exit 3
fi
