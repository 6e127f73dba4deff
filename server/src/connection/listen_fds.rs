//! A listening socket inherited from the service manager: systemd's
//! socket activation (`sd_listen_fds(3)`), which `systemd-socket-activate`
//! and other supervisors (s6, launchers in containers) speak too.
//!
//! The protocol: the manager binds the socket, starts the service with it
//! as descriptor 3 (`SD_LISTEN_FDS_START`), and sets `LISTEN_FDS` (how
//! many descriptors, from 3 on) and `LISTEN_PID` (the service's process
//! id, so that a child of the service does not take them too). This
//! module takes exactly one such socket; the variables are left in the
//! environment (changing it is not thread-safe), and are ignored by any
//! child process since its pid differs.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The first inherited descriptor (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// What `LISTEN_PID` and `LISTEN_FDS` say for this process: `None` when
/// they are absent or meant for another process, else the number of
/// descriptors.
pub(crate) fn listen_fds_count() -> io::Result<Option<usize>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let (Some(pid), Some(fds)) = (
        std::env::var_os("LISTEN_PID"),
        std::env::var_os("LISTEN_FDS"),
    ) else {
        return Ok(None);
    };
    let pid: u32 = pid
        .to_str()
        .and_then(|pid| pid.parse().ok())
        .ok_or_else(|| invalid(format!("LISTEN_PID={pid:?} is not a process id")))?;
    if pid != std::process::id() {
        return Ok(None);
    }
    fds.to_str()
        .and_then(|n| n.parse().ok())
        .map(Some)
        .ok_or_else(|| invalid(format!("LISTEN_FDS={fds:?} is not a number")))
}

/// Takes the one inherited listening socket (descriptor 3) if `LISTEN_FDS`
/// and `LISTEN_PID` give this process one: `Ok(None)` when they do not,
/// an error when they give several (not supported: one server, one
/// socket) or when descriptor 3 is not a listening stream socket. Call it
/// once: the descriptor is owned by what it returns.
pub(crate) fn take_listener() -> io::Result<Option<socket2::Socket>> {
    let Some(count) = listen_fds_count()? else {
        return Ok(None);
    };
    if count != 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("LISTEN_FDS={count}: exactly one inherited socket is supported"),
        ));
    }
    // SAFETY: the protocol hands descriptor 3 to this process (checked by
    // LISTEN_PID); fstat first confirms it is open, so no other owner can
    // exist unless this function is called twice, which its docs forbid.
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    if unsafe { libc::fstat(LISTEN_FDS_START, stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "LISTEN_FDS=1 but descriptor {LISTEN_FDS_START} is not open: {}",
                io::Error::last_os_error()
            ),
        ));
    }
    let socket = socket2::Socket::from(unsafe { OwnedFd::from_raw_fd(LISTEN_FDS_START) });
    let not_a_listener = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "inherited descriptor {LISTEN_FDS_START} is not a listening stream socket: {why}"
            ),
        )
    };
    match socket.r#type() {
        Ok(socket2::Type::STREAM) => {}
        Ok(other) => return Err(not_a_listener(format!("type {other:?}"))),
        Err(e) => return Err(not_a_listener(e.to_string())),
    }
    if !socket
        .is_listener()
        .map_err(|e| not_a_listener(e.to_string()))?
    {
        return Err(not_a_listener("listen(2) was not called on it".into()));
    }
    socket.set_cloexec(true)?;
    socket.set_nonblocking(true)?;
    Ok(Some(socket))
}
