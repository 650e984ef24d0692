//! `cargo xtask`: the hmm-rs lab.
//!
//! One command builds a Rust-enabled Linux 7.3.4 (in a Debian trixie chroot), the C
//! reference `test_hmm.ko`, the Rust module and the suite, boots the kernel under QEMU
//! (virtme-ng; KVM when a boot probe shows it works, TCG otherwise) and runs the tests.
//! See README.md, "The lab".
use clap::{Parser, Subcommand};

mod accel;
mod cache;
mod chroot;
mod host;
mod kernel;
mod kmod;
mod known;
mod kselftest;
mod lab;
#[cfg(test)]
mod layers;
mod logscan;
mod profile;
mod progress;
mod selftest;
mod suite;
mod tap;
#[cfg(test)]
mod tidy;
mod verdict;
mod vm;

/// Developer tasks of the hmm-rs workspace.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Top,
}

#[derive(Subcommand)]
enum Top {
    /// The QEMU lab: kernel, drivers, suite.
    Lab {
        #[command(subcommand)]
        cmd: lab::LabCmd,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Top::Lab { cmd } => lab::run(cmd),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            // The chain of contexts, without a backtrace (RUST_BACKTRACE may be set).
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
