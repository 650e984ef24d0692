#!/usr/bin/env bash
# Runs inside the build chroot. Builds Linux from the linux-source-7.3 package in /build:
#   /build/src        the kernel tree (extracted and configured once per cache key)
#   /build/applied    copies of the patches now applied to the tree
#   /patches          the project's kernel patches (kmod/kernel-patches/*.patch)
#   /config           config fragments, merged on top of tinyconfig in the order given
# Patches are synced incrementally (old ones reversed, new ones applied), so changing a
# patch costs an incremental make, not a new tree.
# Usage: kernel.sh FRAGMENT...
set -euo pipefail
export LIBCLANG_PATH=/usr/lib/llvm-19/lib   # bindgen 0.71 + libclang 22 => opaque structs
jobs=$(nproc)
make_k() { make -C /build/src ARCH=x86_64 LLVM=1 -j"$jobs" "$@"; }

if [ ! -e /build/src/.hmm-lab-configured ]; then
    echo "== extract linux-source-7.3"
    rm -rf /build/src /build/applied && mkdir -p /build/src /build/applied
    tar -C /build/src --strip-components=1 -xf /usr/src/linux-source-7.3.tar.xz

    echo "== configure: tinyconfig + $*"
    make_k tinyconfig >/dev/null
    frags=()
    for f in "$@"; do frags+=("/config/$f"); done
    (cd /build/src && scripts/kconfig/merge_config.sh -m -O . .config "${frags[@]}" >/dev/null)
    make_k olddefconfig >/dev/null
    # Every option the fragments ask for must have survived olddefconfig (a missed
    # dependency would silently drop it).
    missing=0
    for f in "${frags[@]}"; do
        while IFS= read -r line; do
            case "$line" in
                CONFIG_*=*) grep -qx "$line" /build/src/.config || { echo "config: wanted $line, got: $(grep "^${line%%=*}=" /build/src/.config || echo unset)"; missing=1; } ;;
                "# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *}; if grep -q "^$opt=" /build/src/.config; then echo "config: wanted $opt off"; missing=1; fi ;;
            esac
        done < "$f"
    done
    [ "$missing" = 0 ] || { echo "config: fragments not satisfied"; exit 1; }
    touch /build/src/.hmm-lab-configured
fi

# Sync the applied patches with /patches.
shopt -s nullglob
want=$(cat /dev/null /patches/*.patch | sha256sum)
have=$(cat /dev/null /build/applied/*.patch | sha256sum)
if [ "$want" != "$have" ]; then
    applied=(/build/applied/*.patch)
    for ((i=${#applied[@]}-1; i>=0; i--)); do
        p=${applied[i]}
        echo "== reverse $(basename "$p")"
        patch -d /build/src -p1 -R --no-backup-if-mismatch < "$p"
        rm "$p"
    done
    for p in /patches/*.patch; do
        echo "== apply $(basename "$p")"
        patch -d /build/src -p1 --forward --no-backup-if-mismatch < "$p"
        cp "$p" /build/applied/
    done
fi

make_k rustavailable
echo "== build bzImage modules (make LLVM=1 -j$jobs)"
make_k bzImage modules
echo "== done: $(make -s -C /build/src kernelrelease)"
