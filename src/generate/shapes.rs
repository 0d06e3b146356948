//! Line shapes shared by several families: a small ordered JSON-object builder (zap, pino
//! and the event exporter print keys in a fixed order, which `serde_json::json!` would
//! sort), the Spring Boot console pattern and the klog header.

use std::fmt::{Display, Write as _};

use super::clock::Civil;

/// Appends `s` to `out` as a JSON string literal, quotes included.
pub(super) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON object written key by key, in insertion order.
pub(super) struct Obj {
    buf: String,
    empty: bool,
}

impl Obj {
    /// An empty object.
    pub fn new() -> Obj {
        let mut buf = String::with_capacity(256);
        buf.push('{');
        Obj { buf, empty: true }
    }

    fn key(&mut self, k: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        push_json_str(&mut self.buf, k);
        self.buf.push(':');
    }

    /// Adds a string member.
    pub fn s(mut self, k: &str, v: &str) -> Obj {
        self.key(k);
        push_json_str(&mut self.buf, v);
        self
    }

    /// Adds a number (or any value whose `Display` is valid JSON: numbers, booleans).
    pub fn n<T: Display>(mut self, k: &str, v: T) -> Obj {
        self.key(k);
        let _ = write!(self.buf, "{v}");
        self
    }

    /// Adds a member whose value is already JSON text (a nested object or array).
    pub fn raw(mut self, k: &str, json: &str) -> Obj {
        self.key(k);
        self.buf.push_str(json);
        self
    }

    /// Closes the object.
    pub fn done(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// A Spring Boot 2 console line: `%d %5p PID --- [%15.15t] %-40.40logger{39} : %m`.
///
/// `logger` is passed already abbreviated the way logback's `{39}` would
/// (`c.e.shop.orders.OrderController`).
pub(super) fn spring(c: &Civil, level: &str, thread: &str, logger: &str, msg: &str) -> String {
    let t = if thread.len() > 15 {
        &thread[thread.len() - 15..]
    } else {
        thread
    };
    let l = if logger.len() > 40 {
        &logger[logger.len() - 40..]
    } else {
        logger
    };
    format!("{} {level:>5} 1 --- [{t:>15}] {l:<40} : {msg}", c.spring())
}

/// A klog line: `I1114 22:13:20.123456       1 file.go:123] msg`.
pub(super) fn klog(c: &Civil, severity: char, pid: u32, source: &str, msg: &str) -> String {
    format!("{severity}{} {pid:>7} {source}] {msg}", c.klog())
}

/// A logfmt value: bare when it is a simple token, quoted (Go `%q`) otherwise.
pub(super) fn lf(v: &str) -> String {
    let bare = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
    if bare {
        v.to_string()
    } else {
        let mut s = String::with_capacity(v.len() + 2);
        push_json_str(&mut s, v);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::civil;
    use super::*;

    #[test]
    fn spring_pattern_pads_like_logback() {
        let c = civil(1_700_000_000_123_000_000);
        let line = spring(
            &c,
            "INFO",
            "http-nio-8080-exec-3",
            "c.e.shop.OrderController",
            "ok",
        );
        assert_eq!(
            line,
            "2023-11-14 22:13:20.123  INFO 1 --- [nio-8080-exec-3] c.e.shop.OrderController                 : ok"
        );
    }

    #[test]
    fn klog_header() {
        let c = civil(1_700_000_000_123_456_000);
        assert_eq!(
            klog(&c, 'I', 1, "controller.go:123", "hi"),
            "I1114 22:13:20.123456       1 controller.go:123] hi"
        );
    }

    #[test]
    fn json_builder_escapes() {
        let o = Obj::new().s("msg", "a \"b\"\n").n("n", 3).done();
        assert_eq!(o, r#"{"msg":"a \"b\"\n","n":3}"#);
        assert!(serde_json::from_str::<serde_json::Value>(&o).is_ok());
        assert_eq!(lf("x y"), "\"x y\"");
        assert_eq!(lf("abc"), "abc");
    }
}
