//! Captures the access log (the `greenws::access` log target) of a test
//! binary: [`install`] once, then read [`lines`].

use std::sync::Mutex;

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target() == "greenws::access"
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

/// Makes the capture this process's logger (once per test binary).
pub fn install() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Info);
}

/// The access log lines so far.
pub fn lines() -> Vec<String> {
    CAPTURE.0.lock().unwrap().clone()
}
