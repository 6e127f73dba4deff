//! Tools from outside Rust that some tests drive (curl, Chromium). Outside
//! CI a missing tool skips its test with a message; in CI (`CI=true`) it
//! fails the test, so a run that could not check something never passes.

#![allow(dead_code)]

/// True when the tests run in CI: `CI` is `true` (or `1`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Reports that `tool` is missing: panics in CI, else prints why the test
/// is skipped. `install` says how to get it. The caller returns after it.
pub fn missing(tool: &str, install: &str, in_ci: bool) {
    if in_ci {
        panic!("{tool} is missing and CI=true: this test cannot be skipped in CI ({install})");
    }
    eprintln!("SKIPPED: {tool} is missing ({install}); with CI=true this test fails instead");
}
