//! The stack tools of a greenlet: how deep it is
//! ([`stack_depth`]) and giving unused pages back ([`trim_stack`]). The
//! coroutine's first frame records where its stack is
//! ([`record_bounds`]).

/// Where a green coroutine's stack is: an address a little below its top
/// (a local of the coroutine's first frame) and the stack's size.
#[derive(Clone, Copy, Default)]
struct StackBounds {
    near_top: usize,
    size: usize,
}

/// Records, from the coroutine's first frame, where its stack is: a
/// little below the top (the caller's frame: this is inlined into it) and
/// `size` bytes long.
#[inline(always)]
pub(crate) fn record_bounds(size: usize) {
    let marker = 0u8;
    STACK.with(|stack| {
        stack.set(StackBounds {
            near_top: std::ptr::addr_of!(marker) as usize,
            size,
        })
    });
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
/// The bottom page, where may keeps its overflow sentinel, is never
/// released, nor are the pages of the frames in use.
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
