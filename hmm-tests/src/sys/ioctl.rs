//! `_IOC()` encoding (asm-generic/ioctl.h) for the ioctls defined locally.

/// `_IOC_WRITE`.
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ`.
pub const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    assert!(size < (1 << 14));
    (dir << 30) | ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32
}

/// `_IOWR(type, nr, size)`.
pub const fn iowr(ty: u8, nr: u8, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty, nr, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hmm_sys_encoding() {
        assert_eq!(iowr(b'H', 0, 40), hmm_sys::mainline::HMM_DMIRROR_READ);
    }
}
