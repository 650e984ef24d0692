//! userfaultfd_read: the device faults in pages backed by userfaultfd through the
//! HMM_DMIRROR_READ_UNLOCKED path (hmm_range_fault_unlocked_timeout() with no timeout),
//! exercising the lock-drop retry logic; a handler thread resolves each fault with
//! UFFDIO_COPY of a page of 0xAB.

use super::prelude::*;
use crate::buffer::mmap_new;
use crate::sys::close;
use crate::sys::userfaultfd::{
    UffdMsg, UffdioApi, UffdioCopy, UffdioRange, UffdioRegister, UFFDIO_API, UFFDIO_COPY,
    UFFDIO_REGISTER, UFFDIO_REGISTER_MODE_MISSING, UFFD_API, UFFD_EVENT_PAGEFAULT,
};

/// `struct uffd_thread_args` (the page buffer is owned by the thread).
struct UffdThreadArgs {
    uffd: i32,
    stop_fd: i32,
    page_size: usize,
}

/// `ioctl(fd, req, arg)` on a local argument struct.
///
/// # Safety
///
/// `fd` is a userfaultfd and `req` one of its ioctls whose argument is a `T` (the
/// `sys::userfaultfd` structs, sizes checked at compile time); whatever else the request
/// accesses is valid and observed by no Rust reference (UFFDIO_COPY reads `src` and fills
/// `dst`).
unsafe fn ioctl_arg<T>(fd: i32, req: u32, arg: &mut T) -> i32 {
    // SAFETY: forwarded to our caller; `arg` is exclusively borrowed for the call.
    unsafe { libc::ioctl(fd, req as libc::Ioctl, std::ptr::from_mut(arg)) }
}

/// `uffd_handler_thread()`.
fn uffd_handler_thread(args: UffdThreadArgs) {
    let mut page_buffer = vec![0u8; args.page_size];
    let mut pollfd = [
        libc::pollfd {
            fd: args.uffd,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: args.stop_fd,
            events: libc::POLLIN,
            revents: 0,
        },
    ];

    loop {
        // SAFETY: poll on two valid pollfds.
        let ret = unsafe { libc::poll(pollfd.as_mut_ptr(), 2, -1) };
        if ret <= 0 {
            break;
        }
        if pollfd[1].revents != 0 {
            break;
        }
        if pollfd[0].revents & libc::POLLIN == 0 {
            break;
        }

        let mut msg = UffdMsg::default();
        let len = std::mem::size_of::<UffdMsg>();
        // SAFETY: reads at most one `struct uffd_msg` into the local.
        let ret = unsafe { libc::read(args.uffd, std::ptr::from_mut(&mut msg).cast(), len) };
        if ret != len as isize {
            break;
        }

        if msg.event != UFFD_EVENT_PAGEFAULT {
            break;
        }

        // Fill the page with a known pattern
        page_buffer.fill(0xAB);

        let address = msg.pagefault_address;
        let mut copy = UffdioCopy {
            dst: address & !(args.page_size as u64 - 1),
            src: page_buffer.as_ptr() as u64,
            len: args.page_size as u64,
            mode: 0,
            copy: 0,
        };

        // SAFETY: UFFDIO_COPY with its struct: reads the thread's page buffer and fills the
        // faulting page of the case's registered mapping, which the buffer reaches only
        // through volatile views (none alive: the faulting access is the device's).
        let ret = unsafe { ioctl_arg(args.uffd, UFFDIO_COPY, &mut copy) };
        if ret < 0 {
            break;
        }
    }
}

impl Hmm {
    /// Test that HMM can fault in pages backed by userfaultfd using the
    /// hmm_range_fault_unlocked_timeout() path with no timeout. This exercises the lock-drop
    /// retry logic in the HMM framework.
    pub(crate) fn userfaultfd_read(&mut self, _variant: &HmmVariant) {
        let npages: u64 = 4;
        let size = size_of_pages(npages, self.page_shift);

        // Create userfaultfd
        // SAFETY: userfaultfd(2) takes only flags.
        let uffd =
            unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK) }
                as i32;
        if uffd < 0 {
            SKIP!(return, "userfaultfd not available");
        }

        let mut api = UffdioApi {
            api: UFFD_API,
            features: 0,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_API with its struct, on the userfaultfd just made.
        let ret = unsafe { ioctl_arg(uffd, UFFDIO_API, &mut api) };
        ASSERT_EQ!(ret, 0);

        let mut buffer = HmmBuffer::new_unmapped(size, size);

        // Create anonymous mapping
        let p = mmap_new(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        ASSERT_NE!(p, MAP_FAILED);
        // SAFETY: `p` is the anonymous mapping just made above, nothing else refers to it, and
        // from here on the test reaches it only through the buffer (and the kernel,
        // through the userfaultfd registration below, which fills its pages).
        unsafe {
            buffer.adopt_mapping(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        };

        // Register the region with userfaultfd
        let mut reg = UffdioRegister {
            range: UffdioRange {
                start: buffer.ptr as u64,
                len: size as u64,
            },
            mode: UFFDIO_REGISTER_MODE_MISSING,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_REGISTER with its struct: registers the buffer's own mapping.
        let ret = unsafe { ioctl_arg(uffd, UFFDIO_REGISTER, &mut reg) };
        ASSERT_EQ!(ret, 0);

        // Set up the handler thread
        // SAFETY: eventfd(2) with valid flags.
        let stop_fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        ASSERT_GE!(stop_fd, 0);
        let uffd_args = UffdThreadArgs {
            uffd,
            stop_fd,
            page_size: self.page_size,
        };

        let thread = std::thread::Builder::new().spawn(move || uffd_handler_thread(uffd_args));
        let ret = i32::from(thread.is_err());
        ASSERT_EQ!(ret, 0);

        // Use the unlocked read path which allows the mmap lock to be dropped during the
        // fault, enabling userfaultfd resolution.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ_UNLOCKED, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Verify the device read the data filled by the uffd handler
        let ptr = buffer.mirror_bytes();
        for i in 0..size {
            ASSERT_EQ!(ptr.get(i), 0xABu8);
        }

        let stop: u64 = 1;
        // SAFETY: writes the 8-byte local to the eventfd.
        let nwrite = unsafe { libc::write(stop_fd, std::ptr::from_ref(&stop).cast(), 8) };
        ASSERT_EQ!(nwrite, std::mem::size_of::<u64>() as isize);
        if let Ok(t) = thread {
            let _ = t.join();
        }
        // SAFETY: both are raw fds this test created; the handler thread, their only other
        // user, has been joined above (or was never started).
        let _ = unsafe { close(stop_fd) };
        // SAFETY: as above.
        let _ = unsafe { close(uffd) };
        hmm_buffer_free(buffer);
    }
}
