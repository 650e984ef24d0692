#!/usr/bin/env bash
# Create the kernel build environment: a Debian trixie chroot with Rust 1.96 (+rust-src)
# and linux-source-7.3 from trixie-backports, bindgen 0.71 and LLVM 19 from trixie.
# Usage: chroot.sh DIR   (DIR must not exist yet; the caller renames it into place)
# The cache key of the result is the hash of this file: change a package, get a new chroot.
set -euo pipefail
dir=$1
mirror=${HMM_LAB_MIRROR:-http://deb.debian.org/debian}

debootstrap --variant=minbase --include=ca-certificates trixie "$dir" "$mirror"

cat > "$dir/etc/apt/sources.list" <<SRC
deb $mirror trixie main
deb $mirror trixie-backports main
SRC

run() { chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
run apt-get update
# Kernel build (LLVM=1) and the upstream C selftest (static, so it runs on any guest rootfs).
run apt-get install -y --no-install-recommends \
    make patch bc bison flex cpio kmod xz-utils zstd gzip python3 perl rsync \
    libelf-dev libssl-dev libc6-dev gcc libc-dev \
    clang-19 lld-19 llvm-19 libclang-19-dev clang lld llvm \
    bindgen
run apt-get install -y --no-install-recommends -t trixie-backports \
    rustc rust-src rust-clippy linux-source-7.3
run apt-get clean
# Record what we got, for the build log and the cache listing.
run dpkg-query -W rustc rust-src rust-clippy bindgen linux-source-7.3 clang-19 > "$dir/.hmm-lab-versions"
