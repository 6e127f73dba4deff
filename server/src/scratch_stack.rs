//! Running work that goes deep and never blocks on a stack of the worker
//! thread instead of the greenlet's own: the zlib codec of
//! permessage-deflate, and the steps of a TLS handshake.
//!
//! Compressing or decompressing a message takes zlib-rs about 8 KiB of
//! stack below its caller; a TLS handshake step (a certificate chain
//! verified, a key exchange, a signature) takes rustls tens of KiB, more
//! than a default greenlet stack of 64 KiB can spare in a debug build. On a greenlet's stack those pages stay resident
//! after the call, for as long as the greenlet lives: a connection that
//! compressed one message and then waits (the Hub's sender of each member,
//! a feed that sends and sleeps) would keep them, which is as much again as
//! the whole idle connection. Releasing them after each call
//! (`green::trim_stack`) costs a system call and page faults per message.
//!
//! The codec never blocks, so it does not need the greenlet's stack: it
//! runs on one stack per worker thread, whose pages are touched once and
//! reused by every connection that thread serves. A greenlet cannot move to
//! another thread in the middle (it only moves when it blocks), and a
//! second use on the same thread while one is running cannot happen
//! either (it would need the first to block); if it ever did, the call
//! runs on the caller's stack instead.
//!
//! On targets without this support (other than Unix on x86-64 and
//! AArch64) the codec runs on the caller's stack.

/// Runs `codec` on this thread's scratch stack. `codec` must not block,
/// nor yield to another greenlet: the stack belongs to the thread.
/// A panic in `codec` goes on unwinding from here.
pub(crate) fn on_scratch_stack<R>(codec: impl FnOnce() -> R) -> R {
    imp::on_scratch_stack(codec)
}

#[cfg(all(unix, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use std::cell::RefCell;
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

    /// The usable size: several times what zlib-rs needs (about 8 KiB at
    /// any level, more in a debug build), so that the guard page below is
    /// never reached. Only the pages touched are resident.
    const SIZE: usize = 256 * 1024;

    /// An inaccessible page below the stack turns an overflow into a
    /// fault rather than a write into other memory.
    struct ScratchStack {
        /// The mapping: the guard page, then `SIZE` bytes of stack.
        mapping: *mut libc::c_void,
        page: usize,
    }

    impl ScratchStack {
        fn new() -> Option<ScratchStack> {
            // SAFETY: sysconf has no preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
            // SAFETY: a fresh private anonymous mapping; nothing else
            // refers to it.
            let mapping = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    page + SIZE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if mapping == libc::MAP_FAILED {
                return None;
            }
            let stack = ScratchStack { mapping, page };
            // SAFETY: the first page of the mapping just made.
            if unsafe { libc::mprotect(mapping, page, libc::PROT_NONE) } != 0 {
                return None; // dropped: unmapped
            }
            Some(stack)
        }

        /// The lowest address of the usable stack.
        fn base(&self) -> *mut u8 {
            // SAFETY: the mapping is `page + SIZE` bytes long.
            unsafe { self.mapping.cast::<u8>().add(self.page) }
        }
    }

    impl Drop for ScratchStack {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, not in use (the thread is
            // ending, or it was never used).
            unsafe { libc::munmap(self.mapping, self.page + SIZE) };
        }
    }

    thread_local! {
        /// Made on first use; `None` inside if it could not be mapped. The
        /// borrow is held while the codec runs on it.
        static SCRATCH: RefCell<Option<Option<ScratchStack>>> = const { RefCell::new(None) };
    }

    /// This thread's scratch stack, once made (for tests).
    #[cfg(test)]
    pub(super) fn scratch_range() -> Option<std::ops::Range<usize>> {
        SCRATCH.with(|scratch| {
            let scratch = scratch.borrow();
            let stack = scratch.as_ref()?.as_ref()?;
            let base = stack.base() as usize;
            Some(base..base + SIZE)
        })
    }

    pub(super) fn on_scratch_stack<R>(codec: impl FnOnce() -> R) -> R {
        let mut codec = Some(codec);
        let ran = SCRATCH.try_with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                return None; // in use (re-entered): the caller's stack
            };
            let stack = scratch.get_or_insert_with(ScratchStack::new).as_ref()?;
            let codec = codec.take().expect("taken once");
            // SAFETY: the stack is page-aligned and SIZE a multiple of the
            // page, so aligned as every target asks; it is this thread's
            // and not in use (the borrow above); the callback does not
            // unwind (the panic is caught and resumed after the switch
            // back).
            let outcome = unsafe {
                psm::on_stack(stack.base(), SIZE, || catch_unwind(AssertUnwindSafe(codec)))
            };
            Some(outcome)
        });
        match ran {
            Ok(Some(Ok(value))) => value,
            Ok(Some(Err(panic))) => resume_unwind(panic),
            // No scratch stack (being destroyed, unmappable, or in use).
            Ok(None) | Err(_) => (codec.take().expect("not run"))(),
        }
    }
}

#[cfg(not(all(unix, any(target_arch = "x86_64", target_arch = "aarch64"))))]
mod imp {
    pub(super) fn on_scratch_stack<R>(codec: impl FnOnce() -> R) -> R {
        codec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address of a local: where the stack is at the call.
    #[inline(never)]
    fn stack_address() -> usize {
        let local = 0u8;
        std::hint::black_box(&local) as *const u8 as usize
    }

    #[test]
    fn runs_elsewhere_returns_the_value_and_passes_panics_on() {
        let there = on_scratch_stack(stack_address);
        #[cfg(all(unix, any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            let scratch = imp::scratch_range().expect("made on first use");
            assert!(scratch.contains(&there), "{there:#x} in {scratch:x?}");
            assert!(!scratch.contains(&stack_address()));
        }
        assert_eq!(on_scratch_stack(|| 6 * 7), 42);
        // Re-entered (never happens in the codec): the caller's stack.
        let (outer, inner) =
            on_scratch_stack(|| (stack_address(), on_scratch_stack(stack_address)));
        assert!(outer.abs_diff(inner) < 64 * 1024);
        let panic = std::panic::catch_unwind(|| on_scratch_stack(|| panic!("inside")));
        assert_eq!(panic.unwrap_err().downcast_ref::<&str>(), Some(&"inside"));
        // Still usable after a panic.
        assert_eq!(on_scratch_stack(|| 1), 1);
    }

    #[test]
    fn works_inside_greenlets() {
        let greenlets: Vec<_> = (0..64)
            .map(|i| green::spawn(move || on_scratch_stack(|| i * 2)))
            .collect();
        let sum: usize = greenlets.into_iter().map(|g| g.join().unwrap()).sum();
        assert_eq!(sum, (0..64).map(|i| i * 2).sum());
    }
}
