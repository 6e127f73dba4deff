//! The stack tools of a greenlet: how deep it is
//! ([`stack_depth`]) and giving unused pages back ([`trim_stack`]). The
//! coroutine's first frame records where its stack is
//! ([`record_bounds`]) and releases its bottom page ([`SentinelPage`]).

/// Where a green coroutine's stack is: an address a little below its top
/// (a local of the coroutine's first frame) and the stack's size.
#[derive(Clone, Copy, Default)]
pub(crate) struct StackBounds {
    near_top: usize,
    size: usize,
}

/// Records, from the coroutine's first frame, where its stack is: a
/// little below the top (the caller's frame: this is inlined into it) and
/// `size` bytes long.
#[inline(always)]
pub(crate) fn record_bounds(size: usize) -> StackBounds {
    let marker = 0u8;
    let bounds = StackBounds {
        near_top: std::ptr::addr_of!(marker) as usize,
        size,
    };
    STACK.with(|stack| stack.set(bounds));
    bounds
}

may::coroutine_local!(static STACK: std::cell::Cell<StackBounds> = std::cell::Cell::new(StackBounds::default()));

/// How many bytes of stack the calling greenlet uses right now, counted
/// from its first frame (a few hundred bytes of may's own frames above that
/// are not counted); `None` outside a green coroutine. Useful to size
/// [`Config::stack_size`](crate::Config::stack_size) and to keep the frames
/// of long waits small.
pub fn stack_depth() -> Option<usize> {
    let bounds = STACK.with(|stack| stack.get());
    let marker = 0u8;
    let sp = std::ptr::addr_of!(marker) as usize;
    (bounds.near_top != 0 && may::coroutine::is_coroutine())
        .then(|| bounds.near_top.saturating_sub(sp))
}

/// Gives the pages of the calling greenlet's stack below its current depth
/// back to the operating system.
///
/// A stack page, once touched, stays resident for the life of the
/// coroutine, so a greenlet that once went deep (parsing a request, say)
/// and then waits for a long time (an idle WebSocket) holds memory it does
/// not use. Calling this before such a wait releases it; a later deeper call
/// gets fresh zeroed pages. It costs a system call, so call it before long
/// waits, not before every wait. Does nothing outside a green coroutine.
///
/// The pages of the frames in use are never released, nor the two at the
/// bottom (the lowest, where generator keeps may's overflow sentinel, is
/// released once when the coroutine starts: see `SentinelPage`).
pub fn trim_stack() {
    if !may::coroutine::is_coroutine() {
        return;
    }
    let bounds = STACK.with(|stack| stack.get());
    if bounds.near_top == 0 {
        return;
    }
    const PAGE: usize = 4096;
    let sp = stack_pointer();
    // `near_top` lies below the true top by the first frames (well under a
    // page), so two pages above this estimate of the bottom clear the
    // sentinel page for sure.
    let low = bounds.near_top.saturating_sub(bounds.size).div_ceil(PAGE) * PAGE + 2 * PAGE;
    // Keep the pages in use, and room below the stack pointer for the
    // madvise call itself (a system-call stub: a return address and a few
    // words).
    let high = sp.saturating_sub(256) / PAGE * PAGE;
    if high > low {
        // Safety: [low, high) lies inside this coroutine's stack, below every
        // frame in use and above its bottom page; MADV_DONTNEED on private
        // anonymous memory only makes the next touch see zeroed pages.
        unsafe {
            libc::madvise(low as *mut libc::c_void, high - low, libc::MADV_DONTNEED);
        }
    }
}

/// The calling frame's stack pointer. Where no instruction is written for
/// the target, a local's address less a page: a conservative stand-in.
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // Safety: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // Safety: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let marker = 0u8;
        sp = (std::ptr::addr_of!(marker) as usize).saturating_sub(4096);
    }
    sp
}

/// The bottom page of a coroutine's stack, released while the coroutine
/// lives.
///
/// generator (under may) writes a sentinel word over the lowest words of
/// every stack it maps, and may checks them when the coroutine ends
/// ("stack overflow detected" if they were overwritten). That write makes
/// the bottom page resident for the coroutine's whole life although
/// nothing else touches it: 4 KiB of every idle greenlet's memory. It is
/// given back when the coroutine starts (the page reads as zeros), and the
/// sentinel is written back when it ends, so that may's check still passes
/// for a stack that never reached its bottom. A stack that did (its
/// sentinel words are no longer all zero) is left as it is, and may's
/// check reports it. The guard page below the stack still catches a real
/// overflow (`overflow.rs`).
pub(crate) struct SentinelPage {
    bottom: *mut usize,
}

/// generator's sentinel word and how many of them it writes at the bottom
/// of a stack (`generator::stack::Stack::new`, version 0.8).
const GENERATOR_SENTINEL: usize = 0xDEAD_BEEF;
const SENTINEL_WORDS: usize = 8;

impl SentinelPage {
    /// Releases the bottom page of the calling coroutine's stack, if the
    /// sentinel is found where generator puts it; `None` (nothing done)
    /// otherwise, or off Linux.
    pub(crate) fn release(bounds: StackBounds) -> Option<SentinelPage> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        const PAGE: usize = 4096;
        // The stack's top is page-aligned and lies within a page above the
        // first frame; generator maps the size rounded up to whole pages.
        let top = bounds.near_top.div_ceil(PAGE) * PAGE;
        let bottom = top.checked_sub(bounds.size.div_ceil(PAGE) * PAGE)?;
        let expected = [GENERATOR_SENTINEL; SENTINEL_WORDS];
        if read_words(bottom)? != expected {
            return None;
        }
        // Safety: the page lies at the bottom of this coroutine's stack
        // (it holds generator's sentinel), a whole stack below every frame
        // in use; MADV_DONTNEED on private anonymous memory only makes the
        // next touch see zeroed memory.
        unsafe {
            libc::madvise(bottom as *mut libc::c_void, PAGE, libc::MADV_DONTNEED);
        }
        Some(SentinelPage {
            bottom: bottom as *mut usize,
        })
    }
}

impl Drop for SentinelPage {
    fn drop(&mut self) {
        // Safety: `bottom` is the first word of this coroutine's stack,
        // which is mapped read-write until the coroutine is dropped, after
        // this frame ends.
        unsafe {
            let words = std::slice::from_raw_parts_mut(self.bottom, SENTINEL_WORDS);
            if words.iter().all(|&word| word == 0) {
                words.fill(GENERATOR_SENTINEL);
            }
        }
    }
}

/// The eight words at `address`, read without faulting: `None` where the
/// memory is not readable (a wrong guess would be the guard page).
#[cfg(target_os = "linux")]
fn read_words(address: usize) -> Option<[usize; SENTINEL_WORDS]> {
    let mut words = [0usize; SENTINEL_WORDS];
    let size = std::mem::size_of_val(&words);
    let local = libc::iovec {
        iov_base: words.as_mut_ptr().cast(),
        iov_len: size,
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: size,
    };
    // Safety: reads this process's memory into `words`; the kernel checks
    // the source and reports EFAULT instead of faulting.
    let read = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    (read == size as isize).then_some(words)
}

#[cfg(not(target_os = "linux"))]
fn read_words(_address: usize) -> Option<[usize; SENTINEL_WORDS]> {
    None
}
