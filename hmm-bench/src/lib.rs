//! hmm-bench: throughput of the HMM test device's requests, for the C driver
//! (`lib/test_hmm.c`) and the hmm-rs module, against the guest's memcpy. See README.md.
//!
//! `run` (in the lab guest, device present) measures and writes a CSV; `report` (on the
//! host) merges the drivers' CSVs, draws the plots and prints the Rust/C ratio table.

pub mod below;
pub mod csv;
pub mod ftrace_gate;
pub mod ftrace_report;
pub mod measure;
pub mod perf_gate;
pub mod plot;
pub mod ratio;
pub mod report;
pub mod rounds;
pub mod row;
pub mod sizes;
pub mod stats;
pub mod workloads;
