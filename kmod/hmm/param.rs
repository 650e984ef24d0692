// SPDX-License-Identifier: GPL-2.0

//! The module parameters that the `module!` macro cannot express:
//! - `abi=`: a string (`patched` or `mainline`; `0`/`1` also accepted), readable in sysfs
//!   (mode 0444), where hmm-dmirror's `Device::open` looks first;
//! - `coherent_thp`: a bool readable in sysfs (`/sys/module/test_hmm_rs/parameters/`,
//!   mode 0444; the macro's parameters are not in sysfs).
//!
//! This is what `module!` emits for its own parameters (a `struct kernel_param` in the
//! `__param` section and its `.modinfo` strings), with the ops chosen here.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::{
    bindings,
    ffi::{c_char, c_int},
    module_param::KernelParam,
    prelude::*,
};

/// `abi=patched` (the default).
pub(crate) const ABI_PATCHED: u32 = 0;
/// `abi=mainline`.
pub(crate) const ABI_MAINLINE: u32 = 1;

static ABI: AtomicU32 = AtomicU32::new(ABI_PATCHED);

/// The value given at load time.
pub(crate) fn abi() -> u32 {
    ABI.load(Ordering::Relaxed)
}

/// Parses `val`; called by the module loader before `init`.
///
/// # Safety
///
/// `val` is null or a NUL-terminated string valid for the call (the loader's contract).
unsafe extern "C" fn set_abi(val: *const c_char, _kp: *const bindings::kernel_param) -> c_int {
    if val.is_null() {
        pr_err!("abi: a value is required (patched or mainline)\n");
        return EINVAL.to_errno();
    }
    // SAFETY: By the function's safety requirements.
    let s = unsafe { CStr::from_char_ptr(val) }.to_bytes();
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    let v = match s {
        b"patched" | b"0" => ABI_PATCHED,
        b"mainline" | b"1" => ABI_MAINLINE,
        _ => {
            pr_err!(
                "abi={}: unknown ABI; use abi=patched (default) or abi=mainline\n",
                kernel::str::BStr::from_bytes(s)
            );
            return EINVAL.to_errno();
        }
    };
    ABI.store(v, Ordering::Relaxed);
    0
}

/// Shows the ABI in sysfs (`/sys/module/test_hmm_rs/parameters/abi`: `patched` or
/// `mainline`), so userspace can tell which numbering the devices speak without a request.
///
/// # Safety
///
/// `buf` is valid for writes of `PAGE_SIZE` bytes (sysfs's contract for a parameter's `get`).
unsafe extern "C" fn get_abi(buf: *mut c_char, _kp: *const bindings::kernel_param) -> c_int {
    let s: &[u8] = if abi() == ABI_MAINLINE { b"mainline\n" } else { b"patched\n" };
    // SAFETY: `s` is at most 9 bytes, well inside the `PAGE_SIZE` bytes the caller lets us
    // write at `buf` (the function's safety requirements); the two do not overlap (`s` is
    // a static string).
    unsafe { core::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len()) };
    s.len() as c_int
}

static ABI_OPS: bindings::kernel_param_ops = bindings::kernel_param_ops {
    flags: 0,
    set: Some(set_abi),
    get: Some(get_abi),
    free: None,
};

#[link_section = "__param"]
#[used(compiler)]
static __TEST_HMM_RS_ABI_PARAM: KernelParam = KernelParam::new(bindings::kernel_param {
    name: kernel::str::as_char_ptr_in_const_context(if cfg!(MODULE) {
        c"abi"
    } else {
        c"test_hmm_rs.abi"
    }),
    #[cfg(MODULE)]
    mod_: (&raw const bindings::__this_module).cast_mut(),
    #[cfg(not(MODULE))]
    mod_: core::ptr::null_mut(),
    ops: &raw const ABI_OPS,
    // Readable by everyone, as the module parameters userspace looks at are.
    perm: 0o444,
    level: -1,
    flags: 0,
    __bindgen_anon_1: bindings::kernel_param__bindgen_ty_1 {
        arg: core::ptr::null_mut(),
    },
});

#[cfg(MODULE)]
#[link_section = ".modinfo"]
#[used(compiler)]
static __TEST_HMM_RS_ABI_PARMTYPE: [u8; 19] = *b"parmtype=abi:charp\0";

#[cfg(MODULE)]
#[link_section = ".modinfo"]
#[used(compiler)]
static __TEST_HMM_RS_ABI_PARM: [u8; 72] =
    *b"parm=abi:request numbers: patched (default, migrate-on-fault), mainline\0";

/// `coherent_thp`: whether DEVICE_COHERENT devices may allocate PMD-sized (THP) device
/// folios. Off by default: Linux 7.3.4 cannot split a device-coherent large folio (see
/// `kmod/README.md`, "Device-coherent THPs"); the C driver never allocates one either.
static COHERENT_THP: AtomicBool = AtomicBool::new(false);

/// The value given at load time.
pub(crate) fn coherent_thp() -> bool {
    COHERENT_THP.load(Ordering::Relaxed)
}

/// `param_ops_bool` (not in the bindings; its two functions are): `coherent_thp`,
/// `coherent_thp=1|0|y|n|Y|N`, shown as `Y`/`N`.
static BOOL_OPS: bindings::kernel_param_ops = bindings::kernel_param_ops {
    flags: bindings::KERNEL_PARAM_OPS_FL_NOARG as kernel::ffi::c_uint,
    set: Some(bindings::param_set_bool),
    get: Some(bindings::param_get_bool),
    free: None,
};

#[link_section = "__param"]
#[used(compiler)]
static __TEST_HMM_RS_COHERENT_THP_PARAM: KernelParam = KernelParam::new(bindings::kernel_param {
    name: kernel::str::as_char_ptr_in_const_context(if cfg!(MODULE) {
        c"coherent_thp"
    } else {
        c"test_hmm_rs.coherent_thp"
    }),
    #[cfg(MODULE)]
    mod_: (&raw const bindings::__this_module).cast_mut(),
    #[cfg(not(MODULE))]
    mod_: core::ptr::null_mut(),
    ops: &raw const BOOL_OPS,
    // Read-only in sysfs: the value is read at every allocation, and changing it while
    // coherent THPs exist would not make them safe.
    perm: 0o444,
    level: -1,
    flags: 0,
    __bindgen_anon_1: bindings::kernel_param__bindgen_ty_1 {
        // `param_set_bool`/`param_get_bool` access a C `bool` here; `AtomicBool` has the
        // same in-memory representation as `bool`.
        arg: (&raw const COHERENT_THP).cast_mut().cast(),
    },
});

#[cfg(MODULE)]
#[link_section = ".modinfo"]
#[used(compiler)]
static __TEST_HMM_RS_COHERENT_THP_PARMTYPE: [u8; 27] = *b"parmtype=coherent_thp:bool\0";

#[cfg(MODULE)]
#[link_section = ".modinfo"]
#[used(compiler)]
static __TEST_HMM_RS_COHERENT_THP_PARM: [u8; 106] =
    *b"parm=coherent_thp:allow THP device folios on DEVICE_COHERENT devices (default N: 7.3.4 cannot split them)\0";
