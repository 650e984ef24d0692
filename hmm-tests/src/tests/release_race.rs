//! hmm-rs regression case, not in upstream hmm-tests.c: RELEASE on one file while another
//! file of the same device keeps allocating device memory.
//!
//! | test | requests | what broke |
//! |---|---|---|
//! | release_during_migrate | RELEASE in a loop on file B, MIGRATE_TO_DEV in a loop on file A | RELEASE took the coherent device's chunk off its list before unmapping it; an allocation meanwhile mapped a new chunk over the same SPM range (`memremap_pages()`: "Conflicting mapping in same section") |

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::prelude::*;

/// Pages migrated per round.
const NPAGES: usize = 16;
/// How long the two files race.
const RACE: Duration = Duration::from_secs(6);

impl Hmm {
    /// File A migrates a small buffer to device memory over and over while file B releases
    /// the device's memory in a loop. A migration may find no device memory (its read-back
    /// then fails with ENOENT); the data must survive every round, and the device must never
    /// map a chunk over memory that is still mapped.
    pub(crate) fn release_during_migrate(&mut self, variant: &HmmVariant) {
        let size = NPAGES * self.page_size;
        let file_b = ASSERT_HMM_OPEN!(variant.device_number, "file_b");
        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));

        let stop = AtomicBool::new(false);
        let releases = AtomicUsize::new(0);
        let (mut rounds, mut migrated) = (0usize, 0usize);
        let failure = std::thread::scope(|s| {
            let releaser = s.spawn(|| {
                while !stop.load(Ordering::Acquire) {
                    if let Err(e) = file_b.release() {
                        return neg_errno(&e);
                    }
                    releases.fetch_add(1, Ordering::Relaxed);
                }
                0
            });
            let t0 = Instant::now();
            let mut failure = None;
            while t0.elapsed() < RACE {
                let value = rounds as i32 + 1;
                let p = buffer.ints(size);
                for i in 0..size / 4 {
                    p.set(i, value);
                }
                let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, NPAGES as u64);
                if ret == 0 {
                    migrated += 1;
                } else if ret != -libc::ENOENT && ret != -libc::ENOMEM {
                    failure = Some(format!("round {rounds}: MIGRATE_TO_DEV returned {ret}"));
                    break;
                }
                let p = buffer.ints(size);
                if let Some(i) = (0..size / 4).find(|&i| p.get(i) != value) {
                    failure = Some(format!(
                        "round {rounds}: int {i} holds {}, expected {value}",
                        p.get(i)
                    ));
                    break;
                }
                rounds += 1;
            }
            stop.store(true, Ordering::Release);
            let released = releaser.join().unwrap_or(i32::MIN);
            failure.or_else(|| (released != 0).then(|| format!("RELEASE returned {released}")))
        });
        TH_LOG!(
            "{rounds} rounds ({migrated} migrated), {} RELEASEs",
            releases.load(Ordering::Relaxed)
        );
        if let Some(f) = failure {
            TH_LOG!("{f}");
            ASSERT_TRUE!(false);
        }
        ASSERT_GE!(releases.load(Ordering::Relaxed), 2);
        ASSERT_GE!(rounds, 2);

        hmm_buffer_free(buffer);
        ASSERT_EQ!(close_device(file_b), 0);
    }
}
