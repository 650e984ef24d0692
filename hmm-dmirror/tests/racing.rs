//! `Racing` against a real device (`/dev/hmm_dmirror0`): one thread WRITEs page by page
//! while another READs the whole range, through one handle. Ignored (with the reason) on a
//! plain host; the lab runs it (`cargo xtask lab test --driver c|rust --suite lib`). A WRITE
//! racing a migration is hmm-tests' `write_during_migrate`, which the stock C driver does not
//! survive, so it is not run here.

use hmm_dmirror::{Device, Mapping, Mirror};

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn writes_racing_reads_through_one_handle() {
    let dev = Device::open(0).unwrap_or_else(|e| panic!("needs /dev/hmm_dmirror0: {e}"));
    let ps = hmm_dmirror::page_size();
    let npages = 64;
    let mut buf = Mapping::anon_private(npages * ps).unwrap();
    buf.fill_i32(|_| -1);
    let mut src = Mirror::for_pages(1);
    let mut copy = Mirror::for_pages(npages);
    let reads = {
        let race = buf.racing();
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                for page in 0..npages {
                    src.fill_i32(|_| page as i32);
                    let c = race.write(&dev, page, 1, &src).unwrap();
                    assert_eq!(c.cpages, 1);
                }
            });
            let mut reads = 0;
            while !writer.is_finished() || reads == 0 {
                let c = race.read(&dev, 0, npages, &mut copy).unwrap();
                assert_eq!(c.cpages, npages as u64);
                // Each page is read before or after its WRITE (the driver copies a page
                // under its lock), never anything else.
                for page in 0..npages {
                    let w = &copy.as_i32()[page * ps / 4..(page + 1) * ps / 4];
                    assert!(
                        w.iter().all(|&v| v == -1) || w.iter().all(|&v| v == page as i32),
                        "page {page} read as neither its old nor its new contents"
                    );
                }
                reads += 1;
            }
            writer.join().unwrap();
            reads
        })
    };
    assert!(reads > 0);
    let w = ps / 4;
    assert_eq!(buf.mismatch_i32(0..buf.words(), |i| (i / w) as i32), None);
}
