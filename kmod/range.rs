// SPDX-License-Identifier: GPL-2.0

//! Address windows that cannot overflow: every loop over a request's range steps through
//! `[start, end)` with [`windows`], never with an unchecked `addr + len`.
//!
//! The entry checks (`ioctl/mod.rs`) bound a request's range to the process's user address
//! space, so no sum of an address in it and a window length can overflow today; the loops
//! do not rely on that (a near-top READ once overflowed `addr + window` in the fault loop:
//! a Rust panic, i.e. a kernel `BUG()`, from one ioctl).

/// `min(addr + len, end)`, without overflow.
pub(crate) fn window_end(addr: usize, len: usize, end: usize) -> usize {
    match addr.checked_add(len) {
        Some(e) if e < end => e,
        _ => end,
    }
}

/// The windows `[a, b)` of at most `len` bytes (`len > 0`; 0 is taken as "one window") that
/// tile `[start, end)`, in order; none if `start >= end`.
pub(crate) fn windows(
    start: usize,
    end: usize,
    len: usize,
) -> impl Iterator<Item = (usize, usize)> {
    let mut addr = start;
    core::iter::from_fn(move || {
        if addr >= end {
            return None;
        }
        let next = if len == 0 {
            end
        } else {
            window_end(addr, len, end)
        };
        let w = (addr, next);
        addr = next;
        Some(w)
    })
}
