//! benchmark_thp_migration: times MIGRATE_TO_DEV / MIGRATE_TO_SYS round trips with and
//! without THP for buffer sizes from a quarter THP to 128 THPs and prints a table on stdout
//! (120 s timeout). It asserts only that every migration succeeds, as C does.

use std::time::Instant;

use hmm_dmirror::Device;

use super::prelude::*;

/// `struct benchmark_results`.
#[derive(Clone, Copy, Debug, Default)]
struct BenchmarkResults {
    sys_to_dev_time: f64,
    dev_to_sys_time: f64,
    throughput_s2d: f64,
    throughput_d2s: f64,
}

/// `print_benchmark_results()`.
fn print_benchmark_results(
    test_name: &str,
    buffer_size: usize,
    thp: &BenchmarkResults,
    regular: &BenchmarkResults,
) {
    let s2d_improvement =
        ((regular.sys_to_dev_time - thp.sys_to_dev_time) / regular.sys_to_dev_time) * 100.0;
    let d2s_improvement =
        ((regular.dev_to_sys_time - thp.dev_to_sys_time) / regular.dev_to_sys_time) * 100.0;
    let throughput_s2d_improvement =
        ((thp.throughput_s2d - regular.throughput_s2d) / regular.throughput_s2d) * 100.0;
    let throughput_d2s_improvement =
        ((thp.throughput_d2s - regular.throughput_d2s) / regular.throughput_d2s) * 100.0;

    println!(
        "\n=== {} ({:.1} MB) ===",
        test_name,
        buffer_size as f64 / (1024.0 * 1024.0)
    );
    println!("                     | With THP        | Without THP     | Improvement");
    println!("---------------------------------------------------------------------");
    println!(
        "Sys->Dev Migration   | {:.3} ms        | {:.3} ms        | {:.1}%",
        thp.sys_to_dev_time, regular.sys_to_dev_time, s2d_improvement
    );
    println!(
        "Dev->Sys Migration   | {:.3} ms        | {:.3} ms        | {:.1}%",
        thp.dev_to_sys_time, regular.dev_to_sys_time, d2s_improvement
    );
    println!(
        "S->D Throughput      | {:.2} GB/s      | {:.2} GB/s      | {:.1}%",
        thp.throughput_s2d, regular.throughput_s2d, throughput_s2d_improvement
    );
    println!(
        "D->S Throughput      | {:.2} GB/s      | {:.2} GB/s      | {:.1}%",
        thp.throughput_d2s, regular.throughput_d2s, throughput_d2s_improvement
    );
}

/// Milliseconds since `t0` (`get_time_ms()` differences; monotonic here).
fn ms_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1000.0
}

/// `run_migration_benchmark()`: 0 on success, else the failing step's return value.
fn run_migration_benchmark(
    fd: &Device,
    use_thp: bool,
    buffer_size: usize,
    iterations: u32,
    results: &mut BenchmarkResults,
) -> i32 {
    let npages = (buffer_size / hmm_dmirror::page_size()) as u64;
    let mut s2d_total = 0.0;
    let mut d2s_total = 0.0;

    let Some(mut buffer) = hmm_buffer_alloc(
        buffer_size,
        buffer_size,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        -1,
    ) else {
        return -1;
    };
    let ret = (|| {
        buffer.mirror_fill(0xFF, buffer_size);

        // Apply THP hint if requested
        let advice = if use_thp {
            libc::MADV_HUGEPAGE
        } else {
            libc::MADV_NOHUGEPAGE
        };
        let ret = buffer.madvise(buffer.ptr, buffer_size, advice);
        if ret != 0 {
            return ret;
        }

        // Initialize memory to make sure pages are allocated
        buffer
            .ints(buffer_size)
            .fill_with(buffer_size / 4, |i| (i & 0xFF) as i32);

        // Warmup iteration
        let ret = hmm_migrate_sys_to_dev(fd, &mut buffer, npages);
        if ret != 0 {
            return ret;
        }
        let ret = hmm_migrate_dev_to_sys(fd, &mut buffer, npages);
        if ret != 0 {
            return ret;
        }

        // Benchmark iterations
        for _ in 0..iterations {
            // System to device migration
            let start = Instant::now();
            let ret = hmm_migrate_sys_to_dev(fd, &mut buffer, npages);
            if ret != 0 {
                return ret;
            }
            s2d_total += ms_since(start);

            // Device to system migration
            let start = Instant::now();
            let ret = hmm_migrate_dev_to_sys(fd, &mut buffer, npages);
            if ret != 0 {
                return ret;
            }
            d2s_total += ms_since(start);
        }

        // Calculate average times and throughput
        let gib = buffer_size as f64 / (1024.0 * 1024.0 * 1024.0);
        results.sys_to_dev_time = s2d_total / f64::from(iterations);
        results.dev_to_sys_time = d2s_total / f64::from(iterations);
        results.throughput_s2d = gib / (results.sys_to_dev_time / 1000.0);
        results.throughput_d2s = gib / (results.dev_to_sys_time / 1000.0);
        0
    })();

    hmm_buffer_free(buffer);
    ret
}

impl Hmm {
    /// Benchmark THP migration with different buffer sizes (`TEST_F_TIMEOUT(…, 120)`).
    pub(crate) fn benchmark_thp_migration(&mut self, _variant: &HmmVariant) {
        let mut thp_results = BenchmarkResults::default();
        let mut regular_results = BenchmarkResults::default();
        let mut thp_size = read_pmd_pagesize();
        let iterations = 5;

        if thp_size == 0 {
            thp_size = TWOMEG;
        }

        println!("\nHMM THP Migration Benchmark");
        println!("---------------------------");
        println!("System page size: {} bytes", hmm_dmirror::page_size());

        // Test different buffer sizes
        let test_sizes = [
            thp_size / 4,   // quarter THP
            thp_size / 2,   // half THP
            thp_size,       // single THP
            thp_size * 2,   // two THPs
            thp_size * 4,   // four THPs
            thp_size * 8,   // eight THPs
            thp_size * 128, // one twenty eight THPs
        ];

        let test_names = [
            "Small Buffer",
            "Half THP Size",
            "Single THP Size",
            "Two THP Size",
            "Four THP Size",
            "Eight THP Size",
            "One twenty eight THP Size",
        ];

        // Run all tests
        for (size, name) in test_sizes.into_iter().zip(test_names) {
            // Skip test sizes exceeding INT_MAX to avoid overflow
            if size > i32::MAX as usize {
                break;
            }

            // Test with THP
            ASSERT_EQ!(
                run_migration_benchmark(&self.fd, true, size, iterations, &mut thp_results),
                0
            );

            // Test without THP
            ASSERT_EQ!(
                run_migration_benchmark(&self.fd, false, size, iterations, &mut regular_results),
                0
            );

            // Print results
            print_benchmark_results(name, size, &thp_results, &regular_results);
        }
    }
}
