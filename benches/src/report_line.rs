//! The one line a load generator run ends with, for the driver to read:
//! `RESULT key=value key=value ...`. Values are numbers or words without
//! spaces; a value that is not a number is kept as text.
//!
//! ```
//! use benches::report_line::{Report, PREFIX};
//! let mut report = Report::default();
//! report.number("msgs_per_sec", 1234.5).text("tls", "TLSv1_3/TLS13_AES_256_GCM_SHA384");
//! let line = report.to_string();
//! assert!(line.starts_with(PREFIX));
//! let back = Report::parse(&line).unwrap();
//! assert_eq!(back.get("msgs_per_sec"), Some(1234.5));
//! assert_eq!(back.text_of("tls"), Some("TLSv1_3/TLS13_AES_256_GCM_SHA384"));
//! ```

use std::collections::BTreeMap;
use std::fmt;

/// What starts the result line.
pub const PREFIX: &str = "RESULT ";

/// Keyed results of one run: numbers and texts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Numeric results.
    pub numbers: BTreeMap<String, f64>,
    /// Textual results (negotiated TLS parameters, reasons).
    pub texts: BTreeMap<String, String>,
}

impl Report {
    /// Sets a number.
    pub fn number(&mut self, key: impl Into<String>, value: f64) -> &mut Self {
        self.numbers.insert(key.into(), value);
        self
    }

    /// Sets a text (spaces become `_`).
    pub fn text(&mut self, key: impl Into<String>, value: &str) -> &mut Self {
        self.texts.insert(key.into(), value.replace(' ', "_"));
        self
    }

    /// A number, if present.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.numbers.get(key).copied()
    }

    /// A text, if present.
    pub fn text_of(&self, key: &str) -> Option<&str> {
        self.texts.get(key).map(String::as_str)
    }

    /// Reads a `RESULT ...` line; `None` if `line` is not one.
    pub fn parse(line: &str) -> Option<Report> {
        let mut report = Report::default();
        for (key, value) in line
            .strip_prefix(PREFIX)?
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
        {
            match value.parse::<f64>() {
                Ok(number) => report.number(key, number),
                Err(_) => report.text(key, value),
            };
        }
        Some(report)
    }

    /// Finds the `RESULT` line in a program's output.
    pub fn find(output: &str) -> Option<Report> {
        output.lines().find_map(Report::parse)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX.trim_end())?;
        for (key, value) in &self.numbers {
            write!(f, " {key}={value}")?;
        }
        for (key, value) in &self.texts {
            write!(f, " {key}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_texts_round_trip() {
        let mut report = Report::default();
        report
            .number("a", 1.0)
            .number("b", f64::NAN)
            .text("why", "two words");
        let back = Report::find(&format!("noise\n{report}\nmore noise")).unwrap();
        assert_eq!(back.get("a"), Some(1.0));
        assert!(back.get("b").unwrap().is_nan());
        assert_eq!(back.text_of("why"), Some("two_words"));
    }

    #[test]
    fn other_lines_are_not_reports() {
        assert_eq!(Report::parse("RESULTS are in"), None);
        assert_eq!(Report::find("nothing here"), None);
    }
}
