//! hmm-bench: throughput of the HMM test device's requests, for the C driver
//! (`lib/test_hmm.c`) and the hmm-rs module, against the guest's memcpy. See README.md.
//!
//! [`run`] (the guest side: in the lab guest, device present) measures and writes a CSV;
//! [`report`] (the host side) merges the drivers' CSVs, draws the plots, prints the Rust/C
//! ratio table, and compares two runs. The modules at the top are what both sides share:
//! the row and its CSV, statistics, sizes, and the ftrace totals' file.

pub mod csv;
pub mod ftrace_table;
pub mod report;
pub mod row;
pub mod run;
pub mod sizes;
pub mod stats;
