// SPDX-License-Identifier: GPL-2.0

//! The `abi=` module parameter: a string (`patched` or `mainline`; `0`/`1` also accepted),
//! which the `module!` macro's integer and bool parameters cannot express.
//!
//! This is what `module!` emits for its own parameters (a `struct kernel_param` in the
//! `__param` section), with a `set` callback that parses the string.

use core::sync::atomic::{AtomicU32, Ordering};
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

static ABI_OPS: bindings::kernel_param_ops = bindings::kernel_param_ops {
    flags: 0,
    set: Some(set_abi),
    get: None,
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
    perm: 0,
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
