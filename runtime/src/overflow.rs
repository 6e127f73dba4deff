//! A greenlet that overflows its stack ends the process, with a message.
//!
//! Coroutine stacks have a guard page below them, as thread stacks do, and
//! running into it raises SIGSEGV (or SIGBUS). The generator crate under may
//! handles that by jumping out of the coroutine without unwinding it: the
//! greenlet never finishes, its `join` never returns, and every lock, pool
//! slot, socket and registry entry it held stays taken for good, silently.
//! Here a handler of our own, installed over generator's, recognises a
//! fault at the stack pointer, writes what happened to stderr and aborts
//! the process instead (without the message if stderr does not take it
//! within a second: a pipe nobody reads); any other fault goes on to the handler that was
//! there before (generator's, then Rust's or the default one).
//!
//! The handler runs on the thread's alternate signal stack (the overflowed
//! stack has no room left). Rust gives the threads it starts one; a
//! worker thread that has none (a Rust library loaded by a host program
//! that did not set Rust's handlers up) gets one at its first greenlet.

use std::cell::Cell;
use std::sync::{Once, OnceLock};

/// How far below the stack pointer a fault still counts as running off
/// the stack's end: stack probes touch a new frame page by page, so the
/// first fault lands within one frame of the stack pointer.
const MAX_FRAME: usize = 1024 * 1024;

/// Bytes above the stack pointer that a function may still use (x86-64's
/// red zone is 128).
const RED_ZONE: usize = 256;

/// How long the overflow message may wait for a stderr that does not
/// take it (a full pipe) before the process ends without it.
const STDERR_WAIT_MS: libc::c_int = 1000;

/// Size of an alternate signal stack made here.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// The actions for SIGSEGV and SIGBUS before ours, to pass other faults on.
static PREVIOUS: OnceLock<[libc::sigaction; 2]> = OnceLock::new();

const MESSAGE: &[u8] = b"\ngreen: stack overflow: a fault just below the stack pointer.\n\
A greenlet's stack is fixed (green::DEFAULT_STACK_SIZE, 64 KiB, unless\n\
Config::stack_size says otherwise): give a greenlet that recurses deeply or\n\
keeps large arrays on its stack more with Builder::stack_size, or move the\n\
data to the heap. Ending the process (abort).\n";

/// Installs the handler, once, over generator's (which is installed when
/// the first generator is made, so one is made here first).
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        drop(generator::Gn::<()>::new_scoped(|_| ()));
        // Safety: sigaction with a zeroed, then filled, action; the previous
        // actions are saved before ours can run.
        unsafe {
            let mut previous: [libc::sigaction; 2] = std::mem::zeroed();
            for (signal, slot) in [libc::SIGSEGV, libc::SIGBUS].into_iter().zip(&mut previous) {
                libc::sigaction(signal, std::ptr::null(), slot);
            }
            let _ = PREVIOUS.set(previous);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fault as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            for signal in [libc::SIGSEGV, libc::SIGBUS] {
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    });
}

thread_local! {
    static ALT_STACK_CHECKED: Cell<bool> = const { Cell::new(false) };
}

/// Gives the calling thread an alternate signal stack if it has none.
pub(crate) fn ensure_alt_stack() {
    if ALT_STACK_CHECKED.with(|checked| checked.replace(true)) {
        return;
    }
    // Safety: sigaltstack reads and writes the structs given; the new
    // stack is a fresh private mapping that lives as long as the thread
    // (leaked on purpose: the kernel may use it until the thread ends).
    unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut current) != 0
            || current.ss_flags & libc::SS_DISABLE == 0
        {
            return;
        }
        let memory = libc::mmap(
            std::ptr::null_mut(),
            ALT_STACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if memory == libc::MAP_FAILED {
            return;
        }
        let stack = libc::stack_t {
            ss_sp: memory,
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        libc::sigaltstack(&stack, std::ptr::null_mut());
    }
}

/// The stack pointer at the fault, from the signal context.
///
/// # Safety
/// `context` is the `ucontext_t` the kernel passed to the handler.
unsafe fn stack_pointer(context: *mut libc::c_void) -> Option<usize> {
    let context = context.cast::<libc::ucontext_t>();
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    return Some((*context).uc_mcontext.gregs[libc::REG_RSP as usize] as usize);
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    return Some((*context).uc_mcontext.sp as usize);
    #[allow(unreachable_code)]
    {
        let _ = context;
        None
    }
}

/// True when stderr takes a write without blocking, within
/// `STDERR_WAIT_MS`. A pipe that nobody reads (a stuck log collector)
/// would otherwise hold the process in the write for ever instead of
/// ending it. A pipe that polls writable has a free buffer page, which
/// takes the whole message (shorter than `PIPE_BUF`, so written at once).
fn stderr_takes_the_message() -> bool {
    let mut stderr = libc::pollfd {
        fd: libc::STDERR_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // Safety: poll(2) on one pollfd that lives for the call.
    let ready = unsafe { libc::poll(&mut stderr, 1, STDERR_WAIT_MS) };
    ready == 1 && stderr.revents & libc::POLLOUT != 0
}

/// SIGSEGV and SIGBUS: abort with a message on a stack overflow, pass
/// anything else on. Only async-signal-safe calls in here.
extern "C" fn on_fault(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // Safety: the kernel passes a valid siginfo and context to an
    // SA_SIGINFO handler.
    let (address, sp) = unsafe { ((*info).si_addr() as usize, stack_pointer(context)) };
    let overflow = sp.is_some_and(|sp| {
        address < sp.saturating_add(RED_ZONE) && sp.saturating_sub(address) <= MAX_FRAME
    });
    if overflow {
        // Safety: poll(2), write(2) and abort(3) are async-signal-safe.
        unsafe {
            if stderr_takes_the_message() {
                libc::write(libc::STDERR_FILENO, MESSAGE.as_ptr().cast(), MESSAGE.len());
            }
            libc::abort();
        }
    }
    // Not ours: on to the previous handler, or, for a default (or
    // ignored) action, put it back and return, so that the fault happens
    // again and takes that action.
    let Some(previous) = PREVIOUS.get() else {
        // Safety: signal(2) is async-signal-safe.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
        return;
    };
    let previous = &previous[usize::from(signal == libc::SIGBUS)];
    let handler = previous.sa_sigaction;
    // Safety: the previous action as sigaction reported it: a handler of
    // the kind its flags say, or a default or ignored disposition.
    unsafe {
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            libc::sigaction(signal, previous, std::ptr::null_mut());
        } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(handler);
            handler(signal, info, context);
        } else {
            let handler: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            handler(signal);
        }
    }
}
