//! The literal module specifiers a JavaScript file names: `require('x')`,
//! `require.resolve('x')`, `import('x')`, `import … from 'x'`, `import 'x'` and
//! `export … from 'x'`, and the package a bare specifier names. A specifier computed at
//! run time (`require(name)`) is not seen.
//!
//! A small tokenizer rather than a parser: it skips comments, string and template literals
//! (with their `${…}` expressions) and regular expression literals, so that what looks like
//! a `require` inside them is not taken, and tells a regex from a division by the token
//! before it, approximately. It reads any bytes (minified, truncated, not JavaScript at
//! all) without panicking; a misread costs at most the specifiers of one line (a regex
//! literal never spans lines) or of the rest of an unterminated comment or literal.

/// Keywords after which a `/` starts a regular expression rather than a division.
const BEFORE_REGEX: &[&[u8]] = &[
    b"return",
    b"typeof",
    b"instanceof",
    b"in",
    b"of",
    b"new",
    b"delete",
    b"void",
    b"throw",
    b"case",
    b"do",
    b"else",
    b"yield",
    b"await",
];

/// Node's built-in modules (Node 18 to 22), which a bare specifier names before any
/// package: `require('fs')` never reads a package called `fs`.
const BUILTINS: &[&str] = &[
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "string_decoder",
    "sys",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// An identifier, keyword or number.
    Word(Vec<u8>),
    /// A string literal, or a template literal without substitutions: its value, or
    /// `None` when it holds an escape (no specifier a scanner should trust does).
    Str(Option<Vec<u8>>),
    /// A template literal with substitutions, or a regular expression literal.
    Literal,
    Punct(u8),
}

/// The module specifiers `source` names literally, in order of appearance (repeats
/// included).
pub fn specifiers(source: &[u8]) -> Vec<String> {
    let tokens = tokenize(source);
    let mut found = Vec::new();
    // Inside `import …` or `export …` up to its `from 'x'` or the end of the statement.
    let mut clause = false;
    for (i, token) in tokens.iter().enumerate() {
        let next = |n: usize| tokens.get(i + n);
        let string_at = |n: usize| match next(n) {
            Some(Token::Str(Some(value))) => Some(value),
            _ => None,
        };
        let called_with_string = |n: usize| {
            matches!(next(n), Some(Token::Punct(b'(')))
                && matches!(next(n + 2), Some(Token::Punct(b')' | b',')))
                && string_at(n + 1).is_some()
        };
        let mut hit = None;
        match token {
            Token::Word(word) if word == b"require" => {
                if called_with_string(1) {
                    hit = string_at(2);
                } else if matches!(next(1), Some(Token::Punct(b'.')))
                    && matches!(next(2), Some(Token::Word(w)) if w == b"resolve")
                    && called_with_string(3)
                {
                    hit = string_at(4);
                }
            }
            Token::Word(word) if word == b"import" => {
                if called_with_string(1) {
                    hit = string_at(2);
                } else if let Some(value) = string_at(1) {
                    hit = Some(value);
                } else if !matches!(next(1), Some(Token::Punct(b'.' | b'('))) {
                    clause = true;
                }
            }
            Token::Word(word) if word == b"export" => clause = true,
            Token::Word(word) if word == b"from" && clause => {
                if let Some(value) = string_at(1) {
                    hit = Some(value);
                    clause = false;
                }
            }
            Token::Punct(b';') => clause = false,
            _ => {}
        }
        if let Some(value) = hit
            && let Ok(text) = std::str::from_utf8(value)
        {
            found.push(text.to_string());
        }
    }
    found
}

/// The package a bare specifier names (`@scope/name` or `name`), or `None` for relative
/// and absolute paths, URLs, package imports (`#x`) and Node's built-ins.
pub fn package_name(specifier: &str) -> Option<&str> {
    if specifier.is_empty()
        || specifier.starts_with(['.', '/', '#'])
        || specifier.contains([':', '\\'])
        || specifier.contains(char::is_whitespace)
    {
        return None;
    }
    let mut slashes = specifier.match_indices('/').map(|(i, _)| i);
    let end = if specifier.starts_with('@') {
        slashes.nth(1)
    } else {
        slashes.next()
    };
    let name = &specifier[..end.unwrap_or(specifier.len())];
    let dots = name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..");
    if dots || name.starts_with('@') && !name.contains('/') {
        return None;
    }
    // `require('punycode/')` names the package, not the built-in.
    let builtin = BUILTINS.contains(&name) && specifier != format!("{name}/");
    (!builtin).then_some(name)
}

/// Whether a `/` after `previous` starts a regular expression.
fn regex_allowed(previous: Option<&Token>) -> bool {
    match previous {
        None => true,
        Some(Token::Word(word)) => BEFORE_REGEX.contains(&word.as_slice()),
        Some(Token::Punct(p)) => !matches!(p, b')' | b']'),
        Some(Token::Str(_) | Token::Literal) => false,
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn tokenize(source: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    // For each open `${` of a template literal, the depth of `{` within its expression.
    let mut templates: Vec<usize> = Vec::new();
    let mut i = 0;
    if source.starts_with(b"#!") {
        i = line_end(source, 0);
    }
    while let Some(&b) = source.get(i) {
        let next = source.get(i + 1).copied();
        match b {
            b if b.is_ascii_whitespace() => i += 1,
            b'/' if next == Some(b'/') => i = line_end(source, i),
            b'/' if next == Some(b'*') => {
                i = find(source, i + 2, b"*/").map_or(source.len(), |end| end + 2);
            }
            b'/' if regex_allowed(tokens.last()) => match regex_end(source, i + 1) {
                Some(end) => {
                    tokens.push(Token::Literal);
                    i = end;
                }
                None => {
                    tokens.push(Token::Punct(b'/'));
                    i += 1;
                }
            },
            b'\'' | b'"' => {
                let (value, end) = string(source, i + 1, b);
                tokens.push(Token::Str(value));
                i = end;
            }
            b'`' => i = template(source, i + 1, &mut tokens, &mut templates),
            b'{' => {
                if let Some(depth) = templates.last_mut() {
                    *depth += 1;
                }
                tokens.push(Token::Punct(b));
                i += 1;
            }
            b'}' => match templates.last_mut() {
                Some(0) => {
                    templates.pop();
                    i = template(source, i + 1, &mut tokens, &mut templates);
                }
                Some(depth) => {
                    *depth -= 1;
                    tokens.push(Token::Punct(b));
                    i += 1;
                }
                None => {
                    tokens.push(Token::Punct(b));
                    i += 1;
                }
            },
            b if is_word_byte(b) => {
                let start = i;
                while source.get(i).copied().is_some_and(is_word_byte) {
                    i += 1;
                }
                tokens.push(Token::Word(source[start..i].to_vec()));
            }
            _ => {
                tokens.push(Token::Punct(b));
                i += 1;
            }
        }
    }
    tokens
}

/// The index of the newline ending the line at `from` (or the end).
fn line_end(source: &[u8], from: usize) -> usize {
    source
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(source.len(), |at| from + at)
}

fn find(source: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    source
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| from + at)
}

/// A string literal whose body starts at `from`: its value (`None` if it holds an escape)
/// and the index after its closing quote. An unterminated string ends at the line's end.
fn string(source: &[u8], from: usize, quote: u8) -> (Option<Vec<u8>>, usize) {
    let mut escaped = false;
    let mut i = from;
    while let Some(&b) = source.get(i) {
        match b {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'\n' => return (None, i),
            _ if b == quote => {
                let value = (!escaped).then(|| source[from..i].to_vec());
                return (value, i + 1);
            }
            _ => i += 1,
        }
    }
    (None, source.len())
}

/// Reads template literal text from `from` (after a backtick or the `}` closing a
/// substitution) up to its closing backtick, or up to a `${`, which opens a substitution
/// whose tokens the caller reads. Returns the index to go on from.
fn template(
    source: &[u8],
    from: usize,
    tokens: &mut Vec<Token>,
    templates: &mut Vec<usize>,
) -> usize {
    let starts_literal = source.get(from.wrapping_sub(1)) == Some(&b'`');
    let mut escaped = false;
    let mut i = from;
    while let Some(&b) = source.get(i) {
        match b {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'`' => {
                // A whole template without substitutions reads as a string.
                tokens.push(if starts_literal {
                    Token::Str((!escaped).then(|| source[from..i].to_vec()))
                } else {
                    Token::Literal
                });
                return i + 1;
            }
            b'$' if source.get(i + 1) == Some(&b'{') => {
                tokens.push(Token::Literal);
                templates.push(0);
                return i + 2;
            }
            _ => i += 1,
        }
    }
    tokens.push(Token::Literal);
    source.len()
}

/// The index after a regular expression literal whose body starts at `from`, or `None`
/// when the line ends first (then the `/` was a division after all).
fn regex_end(source: &[u8], from: usize) -> Option<usize> {
    let mut in_class = false;
    let mut i = from;
    loop {
        match *source.get(i)? {
            b'\\' => i += 1,
            b'\n' | b'\r' => return None,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'/' if !in_class => break,
            _ => {}
        }
        i += 1;
    }
    i += 1;
    while source.get(i).copied().is_some_and(is_word_byte) {
        i += 1;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::specifiers;

    fn names(source: &str) -> Vec<String> {
        specifiers(source.as_bytes())
    }

    #[test]
    fn finds_require_import_and_export_forms() {
        let source = r#"
            'use strict';
            const a = require('a');
            var b = require("b/sub/path"), c = require ( 'c' );
            const d = require.resolve('d');
            import e from 'e';
            import { f1, f2 as g } from "f";
            import * as h from '@scope/h';
            import 'side-effect';
            export { i } from 'i';
            export * from "j";
            const k = await import('k');
            import.meta.url;
        "#;
        assert_eq!(
            names(source),
            [
                "a",
                "b/sub/path",
                "c",
                "d",
                "e",
                "f",
                "@scope/h",
                "side-effect",
                "i",
                "j",
                "k"
            ]
        );
    }

    #[test]
    fn ignores_comments_strings_and_computed_specifiers() {
        let source = r#"
            // require('line-comment')
            /* require('block-comment') */
            const s = "require('in-a-string')";
            const t = 'import x from "in-a-string"';
            const u = require(name);
            const v = require('con' + 'cat');
            const w = require(`template-${x}`);
            obj.require2('nope');
            const from = 'not-an-import';
        "#;
        assert_eq!(names(source), Vec::<String>::new());
    }

    #[test]
    fn template_literals_and_their_substitutions() {
        let source = r#"
            const a = `require('inside-template') ${ require('in-substitution') } more`;
            const b = `${ { nested: `${ `deep` }` }.nested } require('no')`;
            const c = require(`plain-template`);
            const d = require('after-templates');
        "#;
        assert_eq!(
            names(source),
            ["in-substitution", "plain-template", "after-templates"]
        );
    }

    #[test]
    fn regex_literals_are_skipped_and_divisions_are_not_regexes() {
        let source = r#"
            const r = /require\('in-regex'\)[/'"]/g;
            const q = x.replace(/"/g, '');
            const half = total / 2; const a = require('after-division');
            const ratio = (a) / (b) / require('after-two-divisions');
            if (/'/.test(s)) require('after-regex-in-condition');
            return /['"]/.test(s) && require('after-return-regex');
        "#;
        assert_eq!(
            names(source),
            [
                "after-division",
                "after-two-divisions",
                "after-regex-in-condition",
                "after-return-regex"
            ]
        );
    }

    #[test]
    fn a_division_taken_for_a_regex_spoils_one_line_at_most() {
        // After `}` a `/` is read as a regex; with no closing `/` on the line it is a
        // division after all.
        let source = "const x = {a: 1}\n/ 2; require('next')\nrequire('line')";
        assert_eq!(names(source), ["next", "line"]);
    }

    #[test]
    fn escapes_in_a_specifier_are_not_trusted() {
        assert_eq!(names(r"require('a\x2fb'); require('ok')"), ["ok"]);
    }

    #[test]
    fn shebang_and_minified_code() {
        let source = "#!/usr/bin/env node\nvar a=require(\"x\"),b=require(\"y\");module.exports=function(){return require(\"z\")}";
        assert_eq!(names(source), ["x", "y", "z"]);
    }

    #[test]
    fn unterminated_constructs_end_quietly() {
        for source in [
            "require('a",
            "require(`a",
            "/* require('a')",
            "x = `${",
            "x = `${ `",
            "}}}`",
            "/[/",
            "import",
            "require(",
            "'\\",
        ] {
            assert!(names(source).is_empty(), "{source:?}");
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // Every prefix of a tricky sample, and pseudo-random bytes from the JavaScript
        // alphabet that matters here.
        let sample = br#"#!x
a=`${b/`/`}`/require('c')/[/]/;import d from'e';`\${'f`;'\'/*x*/"#;
        for end in 0..=sample.len() {
            specifiers(&sample[..end]);
        }
        let alphabet = b"`'\"/\\*{}$()[]\n rqiumport.,;ef\xff";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..64)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            specifiers(&bytes);
        }
    }
}
