//! What the operating system lets the server hold.

use std::io;

/// Raises the soft limit on open files to the hard limit; gives the new
/// soft limit.
pub(crate) fn raise_open_file_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Ok(limit.rlim_cur)
}

/// `vm.max_map_count`: each coroutine stack takes two memory maps.
pub(crate) fn max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Raises the open-file limit and logs how many connections the process can
/// hold, and what bounds that.
pub(crate) fn log_capacity() {
    let files = match raise_open_file_limit() {
        Ok(n) => Some(n),
        Err(e) => {
            log::warn!("cannot read the open-file limit: {e}");
            None
        }
    };
    let maps = max_map_count();
    // A connection takes one descriptor and one coroutine (two maps).
    let by_files = files.map(|n| n.saturating_sub(32));
    let by_maps = maps.map(|n| n.saturating_sub(1000) / 2);
    let capacity = match (by_files, by_maps) {
        (Some(f), Some(m)) => Some(f.min(m)),
        (f, m) => f.or(m),
    };
    let show = |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |v| v.to_string());
    log::info!(
        "can hold about {} connections: open-file limit {} (one per connection), \
         vm.max_map_count {} (two maps per coroutine stack)",
        show(capacity),
        show(files),
        show(maps)
    );
}

/// Bytes in a TCP socket's send queue that the peer has not acknowledged
/// yet (`ioctl(SIOCOUTQ)`): what the kernel holds for a peer that is slow
/// to read, or far away.
pub(crate) fn unacknowledged_bytes(fd: std::os::fd::RawFd) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // Safety: SIOCOUTQ (TIOCOUTQ on Linux) writes one int to the pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(queued).unwrap_or(0))
}
