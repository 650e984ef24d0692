//! One boot of `lab run`, `test` or `compare`: the driver of `--driver` loaded (by the lab or
//! by the command), the command run in the guest, the console scanned for kernel reports.
use super::env::Built;
use super::options::{Driver, VmOpts};
use crate::known::Known;
use crate::vm::{self, VmRun};
use crate::{accel, cache, logscan, verdict};
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

/// One boot's outcome.
pub struct Boot {
    /// The command's exit code, or 124 on a timeout, 125 when the guest gave none.
    pub rc: i32,
    /// The command's output.
    pub output: PathBuf,
    /// The guest console.
    pub console: PathBuf,
    /// The kernel reports in the console.
    pub reports: Vec<logscan::Report>,
}

impl Boot {
    /// The exit code of a boot judged by its command's exit code and its kernel reports
    /// (printed, excused only by `known`'s known reports).
    pub fn judged(&self, known: &Known) -> i32 {
        let unexcused = verdict::reports(&self.reports, known, &self.console);
        if unexcused > 0 && self.rc == 0 {
            println!("lab: FAIL: {unexcused} kernel report(s)");
            return 1;
        }
        self.rc
    }
}

/// Boot once and run `cmd` in the guest.
/// `load`: the lab loads the driver (else the command does, and the lab only marks where the
/// driver's part of the console starts).
pub fn boot(
    b: &Built,
    o: &VmOpts,
    mut cmd: Vec<String>,
    private_tmp: bool,
    load: bool,
) -> Result<Boot> {
    let abi = o.abi()?;
    let (ko, modargs) = match o.driver {
        Driver::C => (Some(b.kernel.test_hmm_ko()), vm::spm_modargs()),
        Driver::Rust => (
            b.kmod.clone(),
            format!("{} abi={}", vm::spm_modargs(), abi.name()),
        ),
        Driver::None => (None, String::new()),
    };
    let (ko, modargs) = if load {
        (ko, modargs)
    } else {
        if let Some(k) = &ko {
            let mark = format!(
                "echo '[lab] insmod {} (by the command)' > /dev/kmsg",
                k.display()
            );
            let quoted: Vec<String> = cmd
                .iter()
                .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                .collect();
            cmd = vec![
                "sh".into(),
                "-c".into(),
                format!("{mark}; exec {}", quoted.join(" ")),
            ];
        }
        (None, String::new())
    };
    let root = cache::root();
    let kvm = !o.icount && accel::kvm(&b.vng, &b.kernel.src, &root)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let dir = cache::workspace()
        .join("target/lab/runs")
        .join(format!("{stamp}"));
    eprintln!(
        "==> boot 7.3.4 ({}, {}, driver {:?}, abi {:?}, thp {}), run dir {}",
        b.kernel.profile.name(),
        if kvm {
            "KVM"
        } else if o.icount {
            "TCG, icount"
        } else {
            "TCG"
        },
        o.driver,
        abi,
        o.thp(),
        dir.display()
    );
    eprintln!("    {}", b.kernel.config_summary()?);
    let run = VmRun {
        vng: &b.vng,
        tree: &b.kernel.src,
        kvm,
        dir,
        ko,
        modargs,
        thp: o.thp().into(),
        hugepages: o.hugepages,
        cmd,
        timeout: Duration::from_secs(o.timeout),
        stream: true,
        private_tmp,
        cpus: if o.icount { 1 } else { crate::vm::CPUS },
        icount: o.icount,
    };
    let r = run.run()?;
    r.print_elapsed();
    let rc = r.exit_code("lab", o.timeout);
    if kvm && r.rc.is_none() {
        // Perhaps KVM no longer works: the next boot probes it again.
        accel::forget(&b.kernel.src, &root);
        eprintln!("lab: the next boot probes KVM again");
    }
    let reports = logscan::scan_file(&r.console);
    Ok(Boot {
        rc,
        output: r.output,
        console: r.console,
        reports,
    })
}
