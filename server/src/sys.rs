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

/// Descriptors a server keeps free for what is not a connection (the
/// listener, the runtime's pollers, log files, the files and sockets the
/// app opens): a tenth of the open-file limit, at least 64.
pub(crate) fn reserved_descriptors(open_files: u64) -> u64 {
    (open_files / 10).max(64)
}

/// The default bound on connections: what the open-file limit leaves after
/// [`reserved_descriptors`] (a connection takes one descriptor), and what
/// `vm.max_map_count` allows (a connection's coroutine stack takes two
/// memory maps, and the process keeps about 1000 for itself); at least 1.
pub(crate) fn default_max_connections(open_files: Option<u64>, max_maps: Option<u64>) -> usize {
    let by_files = open_files.map(|n| n.saturating_sub(reserved_descriptors(n)));
    let by_maps = max_maps.map(|n| n.saturating_sub(1000) / 2);
    let bound = match (by_files, by_maps) {
        (Some(f), Some(m)) => f.min(m),
        (Some(f), None) => f,
        (None, Some(m)) => m,
        // Neither limit is known: a bound that still protects the process.
        (None, None) => 10_000,
    };
    usize::try_from(bound.max(1)).unwrap_or(usize::MAX)
}

/// Raises the open-file limit, logs how many connections the process can
/// hold and what bounds that, and gives the default bound on connections.
pub(crate) fn capacity() -> usize {
    let files = match raise_open_file_limit() {
        Ok(n) => Some(n),
        Err(e) => {
            log::warn!("cannot read the open-file limit: {e}");
            None
        }
    };
    let maps = max_map_count();
    let bound = default_max_connections(files, maps);
    let show = |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |v| v.to_string());
    log::info!(
        "can hold about {bound} connections: open-file limit {} (one per connection, {} kept \
         for other files), vm.max_map_count {} (two maps per coroutine stack)",
        show(files),
        show(files.map(reserved_descriptors)),
        show(maps)
    );
    bound
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_bound_leaves_descriptors_and_maps_free() {
        // 20 000 files, 65 530 maps: the files bound (18 000) is lower.
        assert_eq!(default_max_connections(Some(20_000), Some(65_530)), 18_000);
        // 1024 files keep 102 free.
        assert_eq!(default_max_connections(Some(1024), Some(65_530)), 922);
        // At least 64 are kept, however low the limit.
        assert_eq!(default_max_connections(Some(100), None), 36);
        // The maps bound wins when files are plenty.
        assert_eq!(
            default_max_connections(Some(1_000_000), Some(65_530)),
            32_265
        );
        // Never zero.
        assert_eq!(default_max_connections(Some(10), Some(10)), 1);
        assert_eq!(default_max_connections(None, None), 10_000);
    }
}
