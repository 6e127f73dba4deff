//! Pinning benchmark processes to CPUs, and checking that it happened.
//!
//! A process started with [`pin_to_cpu`] has its affinity set between fork
//! and exec (`sched_setaffinity`), so the spawn fails if pinning fails; what
//! the kernel then allows is read back from `/proc/PID/status` with
//! [`allowed_cpus`], and only that is reported.
//!
//! ```
//! use benches::affinity::parse_cpu_list;
//! assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
//! ```

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `command` run on `cpu` only (set in the child before exec).
pub fn pin_to_cpu(command: &mut Command, cpu: usize) -> &mut Command {
    // Safety: only async-signal-safe calls between fork and exec
    // (CPU_ZERO/CPU_SET are plain bit operations on a stack value).
    unsafe {
        command.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_ZERO(&mut set);
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// The CPUs process `pid` may run on, from `/proc/PID/status`
/// (`Cpus_allowed_list`).
pub fn allowed_cpus(pid: u32) -> io::Result<Vec<usize>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .and_then(|list| parse_cpu_list(list.trim()))
        .ok_or_else(|| io::Error::other(format!("no Cpus_allowed_list for process {pid}")))
}

/// Parses a kernel CPU list such as `0-3,6`.
pub fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.trim().parse::<usize>().ok()?..=b.trim().parse().ok()?),
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    Some(cpus)
}

/// How many CPUs this process may use.
pub fn cpus_available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("0-1"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("1,3-4"), Some(vec![1, 3, 4]));
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn a_pinned_child_runs_on_its_cpu_only() {
        let mut command = Command::new("sleep");
        command.arg("5");
        let mut child = pin_to_cpu(&mut command, 0).spawn().expect("sleep starts");
        let allowed = allowed_cpus(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(allowed.expect("readable"), vec![0]);
    }

    #[test]
    fn pinning_to_a_cpu_that_does_not_exist_fails_the_spawn() {
        let mut command = Command::new("true");
        let result = pin_to_cpu(&mut command, 1000).spawn();
        assert!(result.is_err(), "the kernel refuses a CPU it does not have");
    }
}
