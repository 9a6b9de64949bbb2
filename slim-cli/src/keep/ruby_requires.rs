//! The features a Ruby source file can load, read from its text without running Ruby:
//! every `require "x"`, `require_relative "x"` and `autoload :Name, "x"` anywhere in the
//! file (in method bodies, `begin`/`rescue` blocks and conditions too), with or without
//! parentheses, whose argument is a string literal without interpolation. Calls with a
//! computed argument are counted.
//!
//! The scanner knows enough of Ruby's lexical structure for this: comments (`#` and
//! `=begin`/`=end`), single- and double-quoted strings with their escapes, and names, so
//! that a word inside a string or a comment, or a method named `required?`, is no call.
//! Any bytes are accepted: what does not scan is skipped, never an error.
//!
//! Pure: it reads a byte slice.

/// How a feature is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequireKind {
    /// `require "x"`: looked up on `$LOAD_PATH` (or absolute).
    Require,
    /// `require_relative "x"`: relative to the requiring file's directory.
    Relative,
    /// `autoload :Name, "x"`: required the first time the constant is used.
    Autoload,
}

/// One literal load of a feature, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequireRef {
    pub kind: RequireKind,
    /// The feature: `json`, `json/ext/parser`, `bigdecimal.so`, `../lib/x`.
    pub feature: String,
}

/// What a source file loads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requires {
    pub refs: Vec<RequireRef>,
    /// Calls whose argument is not a string literal (`require File.join(…)`, `require
    /// "#{x}/y"`).
    pub computed: usize,
}

/// Longest feature name read (longer ones are no real feature).
const FEATURE_LIMIT: usize = 4096;

/// The requires of `source`.
pub fn scan(source: &[u8]) -> Requires {
    let mut out = Requires::default();
    let mut i = 0;
    let mut line_start = true;
    // The byte before the current word, outside blanks: `.` or `:` make a method call on
    // something else (`obj.require`, `Kernel::require` still loads, `x.autoload` too):
    // only a preceding name character (part of a longer word) disqualifies.
    while i < source.len() {
        let b = source[i];
        if line_start && source[i..].starts_with(b"=begin") {
            i = skip_block_comment(source, i);
            line_start = true;
            continue;
        }
        line_start = false;
        match b {
            b'\n' => {
                line_start = true;
                i += 1;
            }
            b'#' => i = skip_line(source, i),
            b'"' | b'\'' | b'`' => i = skip_string(source, i + 1, b).0,
            _ if is_word_start(b) && (i == 0 || !is_name_byte(source[i - 1])) => {
                let end = word_end(source, i);
                let word = &source[i..end];
                i = end;
                let kind = match word {
                    b"require" => RequireKind::Require,
                    b"require_relative" => RequireKind::Relative,
                    b"autoload" => RequireKind::Autoload,
                    _ => continue,
                };
                i = call(source, i, kind, &mut out);
            }
            _ => i += 1,
        }
    }
    out
}

/// Reads the argument of a `require`-like call whose name ends at `i`; returns where to
/// go on.
fn call(source: &[u8], mut i: usize, kind: RequireKind, out: &mut Requires) -> usize {
    // A name followed by `?`, `!`, `=` or `:` (a symbol key, a method definition of
    // another name) is no call; `def require(…)` has a name too, but no string follows.
    if matches!(source.get(i), Some(b'?' | b'!' | b'=' | b':')) {
        return i;
    }
    i = skip_blanks(source, i);
    let paren = source.get(i) == Some(&b'(');
    if paren {
        i = skip_blanks(source, i + 1);
    }
    if kind == RequireKind::Autoload {
        // The constant: a symbol (`:Name`) or a string.
        match source.get(i) {
            Some(b':') if source.get(i + 1).is_some_and(|&b| is_word_start(b)) => {
                i = word_end(source, i + 1);
            }
            Some(&q @ (b'"' | b'\'')) => i = skip_string(source, i + 1, q).0,
            _ => return i,
        }
        i = skip_blanks(source, i);
        if source.get(i) != Some(&b',') {
            return i;
        }
        i = skip_blanks(source, i + 1);
    }
    match source.get(i) {
        Some(&q @ (b'"' | b'\'')) => {
            let (end, literal) = skip_string(source, i + 1, q);
            match literal {
                Some(feature) if is_feature(feature) => out.refs.push(RequireRef {
                    kind,
                    feature: feature.to_string(),
                }),
                _ => out.computed += 1,
            }
            end
        }
        // `require` with no argument on the line (a method definition, a variable).
        Some(b'\n' | b')' | b';' | b'#' | b'.' | b',' | b'}' | b']') | None => i,
        Some(_) => {
            out.computed += 1;
            i
        }
    }
}

fn is_feature(feature: &str) -> bool {
    !feature.is_empty()
        && feature.len() <= FEATURE_LIMIT
        && !feature.bytes().any(|b| b == 0 || b == b'\n')
}

/// Skips the string whose opening quote `quote` stands before `i`. Returns the index after
/// the closing quote and the literal's text when it is plain: valid UTF-8, no escape, no
/// interpolation in a double-quoted string.
fn skip_string(source: &[u8], mut i: usize, quote: u8) -> (usize, Option<&str>) {
    let start = i;
    let mut plain = true;
    while i < source.len() {
        match source[i] {
            b'\\' => {
                plain = false;
                i += 2;
            }
            b'#' if quote != b'\'' && source.get(i + 1) == Some(&b'{') => {
                plain = false;
                i += 1;
            }
            b if b == quote => {
                let text = std::str::from_utf8(&source[start..i])
                    .ok()
                    .filter(|_| plain);
                return (i + 1, text);
            }
            _ => i += 1,
        }
    }
    (source.len(), None)
}

/// Skips `=begin` … `=end` (each at the start of a line) from `i`; returns the index after
/// the `=end` line.
fn skip_block_comment(source: &[u8], mut i: usize) -> usize {
    loop {
        i = skip_line(source, i);
        if i >= source.len() {
            return source.len();
        }
        i += 1;
        if source[i..].starts_with(b"=end") {
            return skip_line(source, i);
        }
    }
}

/// The index of the newline ending the line `i` is on (or the end).
fn skip_line(source: &[u8], i: usize) -> usize {
    source[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(source.len(), |at| i + at)
}

fn skip_blanks(source: &[u8], mut i: usize) -> usize {
    while matches!(source.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 || b == b'$' || b == b'@'
}

fn word_end(source: &[u8], mut i: usize) -> usize {
    while source
        .get(i)
        .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80)
    {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(source: &str) -> Vec<(RequireKind, String)> {
        scan(source.as_bytes())
            .refs
            .into_iter()
            .map(|r| (r.kind, r.feature))
            .collect()
    }

    fn req(feature: &str) -> (RequireKind, String) {
        (RequireKind::Require, feature.to_string())
    }

    #[test]
    fn reads_every_literal_require_form() {
        let source = r#"
require "json"
require 'set'
require("bigdecimal.so")
require_relative "sinatra/base"
require_relative('../lib/x')
autoload :CSV, "csv"
autoload(:Parser, 'json/ext/parser')
Kernel.require "digest"
def total
  require "bigdecimal/util" unless defined?(BigDecimal)
  x = begin; require 'yaml'; rescue LoadError; nil; end
end
"#;
        assert_eq!(
            features(source),
            vec![
                req("json"),
                req("set"),
                req("bigdecimal.so"),
                (RequireKind::Relative, "sinatra/base".into()),
                (RequireKind::Relative, "../lib/x".into()),
                (RequireKind::Autoload, "csv".into()),
                (RequireKind::Autoload, "json/ext/parser".into()),
                req("digest"),
                req("bigdecimal/util"),
                req("yaml"),
            ]
        );
    }

    #[test]
    fn comments_strings_and_other_names_are_no_requires() {
        let source = r#"
# require "commented"
x = "require 'in_a_string'"
y = 'autoload :X, "quoted"'
=begin
require "in_a_block_comment"
=end
def required?(x) = x
prerequire "no"
obj.required? "no"
z = { require: "a key" }
require "after"
"#;
        assert_eq!(features(source), vec![req("after")]);
    }

    #[test]
    fn computed_arguments_are_counted_not_read() {
        let scanned = scan(
            br##"require File.join("digest", name)
require "#{dir}/x"
require "esc\"aped"
require lib
"##,
        );
        assert!(scanned.refs.is_empty(), "{scanned:?}");
        assert_eq!(scanned.computed, 4);
    }

    #[test]
    fn any_bytes_scan_without_error() {
        for source in [
            &b"require \""[..],
            b"require",
            b"autoload :",
            b"autoload :X,",
            b"=begin",
            b"require '\xff'",
            b"\"\\",
        ] {
            let _ = scan(source);
        }
    }
}
