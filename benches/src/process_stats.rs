//! What the kernel says about a server process: CPU time, memory, and where
//! the memory is.

use std::io;

/// Nanoseconds process `pid` (all its threads) has spent on a CPU, from
/// `/proc/PID/task/*/schedstat`. Threads that already exited are not
/// counted, so read it before and after a run of a server whose threads
/// live for the whole run.
pub fn cpu_nanos(pid: u32) -> io::Result<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread may exit between the listing and the read.
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// User and kernel CPU time of process `pid` so far, in clock ticks
/// (`utime` and `stime` of `/proc/PID/stat`).
pub fn user_and_kernel_ticks(pid: u32) -> io::Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_user_and_kernel_ticks(&stat)
        .ok_or_else(|| io::Error::other(format!("unreadable /proc/{pid}/stat")))
}

/// `utime` and `stime` (fields 14 and 15) of a `/proc/PID/stat` line; the
/// command name in parentheses may contain spaces.
pub fn parse_user_and_kernel_ticks(stat: &str) -> Option<(u64, u64)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// Resident memory of process `pid`, in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::other(format!("no VmRSS for process {pid}")))
}

/// Resident memory by kind of mapping, from `/proc/PID/smaps`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemoryByKind {
    /// `[heap]` and anonymous mappings of 1 MiB or more (malloc's arenas
    /// and large allocations).
    pub heap_kib: u64,
    /// Anonymous mappings under 1 MiB: coroutine stacks (64 KiB plus a
    /// guard page each by default) and small mmap allocations.
    pub small_anon_kib: u64,
    /// How many anonymous mappings under 1 MiB there are.
    pub small_anon_mappings: u64,
    /// Thread stacks (`[stack]`), files and everything else.
    pub other_kib: u64,
}

impl MemoryByKind {
    /// Reads `/proc/PID/smaps`.
    pub fn of(pid: u32) -> io::Result<MemoryByKind> {
        Ok(Self::parse(&std::fs::read_to_string(format!(
            "/proc/{pid}/smaps"
        ))?))
    }

    /// Sorts the mappings of an smaps text into kinds.
    pub fn parse(smaps: &str) -> MemoryByKind {
        let mut memory = MemoryByKind::default();
        let mut current: Option<(u64, String)> = None; // (size KiB, name)
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let first = fields.next().unwrap_or("");
            if let Some((start, end)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
                let (Ok(start), Ok(end)) =
                    (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
                else {
                    continue;
                };
                let name = fields.nth(4).unwrap_or("").to_string();
                current = Some(((end - start) / 1024, name));
            } else if first == "Rss:" {
                let rss: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                let Some((size_kib, name)) = &current else {
                    continue;
                };
                match name.as_str() {
                    "[heap]" => memory.heap_kib += rss,
                    "" if *size_kib >= 1024 => memory.heap_kib += rss,
                    "" => {
                        memory.small_anon_kib += rss;
                        memory.small_anon_mappings += 1;
                    }
                    _ => memory.other_kib += rss,
                }
            }
        }
        memory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_name_with_spaces() {
        let stat = "1234 (my server) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_user_and_kernel_ticks(stat), Some((250, 75)));
        assert_eq!(parse_user_and_kernel_ticks("garbage"), None);
    }

    #[test]
    fn smaps_mappings_are_sorted_into_kinds() {
        let smaps = "\
55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
Rss:                 100 kB
7f0000000000-7f0000011000 rw-p 00000000 00:00 0 
Size:                 68 kB
Rss:                   8 kB
7f0000100000-7f0000111000 rw-p 00000000 00:00 0 
Size:                 68 kB
Rss:                   8 kB
7f1000000000-7f1004000000 rw-p 00000000 00:00 0 
Size:              65536 kB
Rss:                2048 kB
7f2000000000-7f2000100000 r-xp 00000000 fd:01 42                         /usr/lib/libc.so.6
Size:               1024 kB
Rss:                 500 kB
VmFlags: rd ex mr mw me
";
        assert_eq!(
            MemoryByKind::parse(smaps),
            MemoryByKind {
                heap_kib: 2148,
                small_anon_kib: 16,
                small_anon_mappings: 2,
                other_kib: 500,
            }
        );
    }

    #[test]
    fn this_process_is_readable() {
        let me = std::process::id();
        assert!(cpu_nanos(me).unwrap() > 0);
        assert!(rss_bytes(me).unwrap() > 0);
        user_and_kernel_ticks(me).unwrap();
        assert!(
            MemoryByKind::of(me).unwrap().heap_kib + MemoryByKind::of(me).unwrap().other_kib > 0
        );
    }
}
