//! The modules a Python source file can import, read from its text without running Python:
//! every `import a.b [as x], c` and `from [.]x.y import a, b` anywhere in the file (in
//! function bodies, `try` blocks and `if` branches too), and `importlib.import_module` /
//! `__import__` called with a literal name; calls with a computed name are counted. Two
//! blocks never run when the module is imported, so their imports are not read: `if
//! __name__ == "__main__":` (the file run as a script) and `if TYPE_CHECKING:` (read only by
//! static type checkers; `typing.TYPE_CHECKING` is false at run time).
//!
//! A small tokenizer knows enough of Python's lexical structure for this: comments, every
//! string form (prefixes, triple quotes, escapes), backslash continuations, brackets that
//! span lines and `;`-separated statements. `import` and `from` are keywords, so outside
//! strings and comments they only ever start import statements (`yield from` and
//! `raise … from` are told apart by what precedes them). Any bytes are accepted: what does
//! not tokenize is skipped, never an error.
//!
//! Frameworks also import by names written as strings (`"django.middleware.csrf.
//! CsrfViewMiddleware"` in settings, `"gunicorn.workers.sync.SyncWorker"`): every plain
//! string literal that is a dotted name is reported too, for the caller to resolve.
//!
//! Pure: it reads a byte slice.

/// One import statement's (or literal call's) module, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportRef {
    /// Leading dots of a relative import (`from ..pkg import a` is 2); 0 when absolute.
    pub level: usize,
    /// The dotted module name after the dots (empty in `from . import a`).
    pub module: String,
    /// The names of `from … import a, b`: each may be a submodule or an attribute (`*` is
    /// left out).
    pub names: Vec<String>,
}

/// What a source file imports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imports {
    pub refs: Vec<ImportRef>,
    /// Calls of `import_module`/`__import__` whose name is computed at run time.
    pub computed: usize,
    /// Where each of `refs` (same order) stands in a `try` statement.
    pub guards: Vec<Guard>,
    /// String literals that are dotted names (`"a.b"`, `"a.b.C"`, at least one dot): a
    /// module, or an attribute of one, that code may import by that name.
    pub named: Vec<String>,
}

/// Where an import stands in a `try` statement, by the statement's number in the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Guard {
    /// In the body of this `try` (the innermost one).
    pub tried_in: Option<usize>,
    /// In an `except` clause of this `try` that catches a failed import (`ImportError`,
    /// `ModuleNotFoundError`, `Exception`, `BaseException` or a bare `except:`): a
    /// fallback, imported only when an import of the body failed.
    pub fallback_of: Option<usize>,
}

/// A `try` statement the scanner is inside.
struct TryFrame {
    /// The indentation of its `try:` line.
    indent: usize,
    id: usize,
    /// `None` in the body; in a clause, whether it catches a failed import.
    clause: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// A name, as its bytes (only ASCII ones matter; others are kept as written).
    Name(&'a [u8]),
    /// A string literal: its text when it is a plain (not bytes, not f-) string without
    /// escapes, else `None`. The text is as written: UTF-8 is checked where it is used.
    Str(Option<&'a [u8]>),
    /// One punctuation byte: `.` `,` `(` `)` `;` `:` `*` and the others.
    Op(u8),
    /// The start of a logical line, with its indentation (a tab counts 8).
    Newline(usize),
    Number,
}

/// The imports of `source`.
pub fn scan(source: &[u8]) -> Imports {
    let Tokens { tokens, marks } = tokenize(source);
    let mut imports = Imports::default();
    let mut frames: Vec<TryFrame> = Vec::new();
    let mut tries = 0;
    let mut line_indent = 0;
    let mut i = 0;
    // Only the marked tokens can start anything: the steps below go from one to the next
    // at or after where the last step ended.
    for &at in &marks {
        if at < i {
            continue;
        }
        i = at;
        // The imports read by the last step stand where the frames were then.
        if imports.guards.len() < imports.refs.len() {
            imports.guards.resize(imports.refs.len(), guard_of(&frames));
        }
        if let Token::Newline(indent) = tokens[i] {
            line_indent = indent;
            // A line indented no deeper than a `try:` ends it, unless it is a clause.
            let clause = matches!(
                tokens.get(i + 1),
                Some(Token::Name(w)) if matches!(*w, b"except" | b"else" | b"finally")
            );
            while frames
                .last()
                .is_some_and(|f| indent < f.indent || (indent == f.indent && !clause))
            {
                frames.pop();
            }
        }
        let at_statement_start = i == 0
            || matches!(
                tokens[i - 1],
                Token::Newline(_) | Token::Op(b';') | Token::Op(b':')
            );
        if at_statement_start
            && let Token::Name(word) = &tokens[i]
            && matches!(tokens[i.saturating_sub(1)], Token::Newline(_))
        {
            match *word {
                b"try" if tokens.get(i + 1) == Some(&Token::Op(b':')) => {
                    frames.push(TryFrame {
                        indent: line_indent,
                        id: tries,
                        clause: None,
                    });
                    tries += 1;
                    i += 2;
                    continue;
                }
                b"except" | b"else" | b"finally"
                    if frames.last().is_some_and(|f| f.indent == line_indent) =>
                {
                    let end = clause_end(&tokens, i + 1);
                    let catches_import =
                        *word == b"except" && catches_failed_import(&tokens[i + 1..end]);
                    if let Some(frame) = frames.last_mut() {
                        frame.clause = Some(catches_import);
                    }
                    i = end;
                    continue;
                }
                _ => {}
            }
        }
        if let Some(Token::Newline(indent)) = i.checked_sub(1).map(|at| &tokens[at])
            && (is_main_check(&tokens[i..]) || is_type_checking(&tokens[i..]))
        {
            i = skip_block(&tokens, i, *indent);
            continue;
        }
        match &tokens[i] {
            Token::Name(b"import") => {
                i = import_names(&tokens, i + 1, &mut imports.refs);
            }
            Token::Name(b"from") if at_statement_start => {
                i = from_import(&tokens, i + 1, &mut imports.refs);
            }
            Token::Name(b"import_module" | b"__import__")
                if tokens.get(i + 1) == Some(&Token::Op(b'('))
                    && !(i > 0 && is_name(&tokens[i - 1], "def")) =>
            {
                match (tokens.get(i + 2), tokens.get(i + 3)) {
                    (Some(Token::Str(Some(name))), Some(Token::Op(b',' | b')')))
                        if let Ok(name) = std::str::from_utf8(name)
                            && is_module_name(name) =>
                    {
                        let level = name.bytes().take_while(|&b| b == b'.').count();
                        imports.refs.push(ImportRef {
                            level,
                            module: name[level..].to_string(),
                            names: Vec::new(),
                        });
                    }
                    _ => imports.computed += 1,
                }
                i += 2;
            }
            Token::Str(Some(text))
                if text.contains(&b'.')
                    && is_dotted_name(text)
                    && let Ok(text) = std::str::from_utf8(text) =>
            {
                imports.named.push(text.to_string());
                i += 1;
            }
            _ => i += 1,
        }
    }
    let guard = guard_of(&frames);
    imports.guards.resize(imports.refs.len(), guard);
    imports
}

/// The guard of an import read inside `frames` (the innermost `try` last).
fn guard_of(frames: &[TryFrame]) -> Guard {
    let Some(frame) = frames.last() else {
        return Guard::default();
    };
    match frame.clause {
        None => Guard {
            tried_in: Some(frame.id),
            fallback_of: None,
        },
        Some(true) => Guard {
            tried_in: None,
            fallback_of: Some(frame.id),
        },
        Some(false) => Guard::default(),
    }
}

/// Where the header of a clause starting at `i` (after its keyword) ends: after its `:`.
fn clause_end(tokens: &[Token], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some(token) = tokens.get(i) {
        match token {
            Token::Op(b'(' | b'[' | b'{') => depth += 1,
            Token::Op(b')' | b']' | b'}') => depth = depth.saturating_sub(1),
            Token::Op(b':') if depth == 0 => return i + 1,
            Token::Newline(_) => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Whether an `except` clause whose header tokens (after `except`) are `header` catches a
/// failed import.
fn catches_failed_import(header: &[Token]) -> bool {
    if header.first() == Some(&Token::Op(b':')) {
        return true;
    }
    // `except (A, B) as e:`: the names before `as`.
    header.iter().take_while(|t| !is_name(t, "as")).any(|t| {
        matches!(
            t,
            Token::Name(b"ImportError" | b"ModuleNotFoundError" | b"Exception" | b"BaseException")
        )
    })
}

/// Whether `text` is identifiers joined by dots: `a.b`, `pkg.mod.Class`.
fn is_dotted_name(text: &[u8]) -> bool {
    text.split(|&b| b == b'.').all(|part| {
        part.first().is_some_and(|b| !b.is_ascii_digit()) && part.iter().copied().all(is_name_byte)
    })
}

/// Whether a string given to `__import__` or `import_module` names a module: leading dots
/// (the level of a relative name), then dotted parts none of which is empty. Anything else
/// cannot be imported, so it is counted as computed rather than followed.
fn is_module_name(name: &str) -> bool {
    let rest = name.trim_start_matches('.');
    (rest.is_empty() && !name.is_empty())
        || rest
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(is_name_byte))
}

/// Whether `tokens` start with `if __name__ == "__main__":` (either way round): a block
/// that runs only when the file is run as a script, never when it is imported.
fn is_main_check(tokens: &[Token]) -> bool {
    let name = |t: &Token| is_name(t, "__name__");
    let main = |t: &Token| matches!(t, Token::Str(Some(b"__main__")));
    let eq = Token::Op(b'=');
    tokens.len() >= 6
        && is_name(&tokens[0], "if")
        && tokens[2] == eq
        && tokens[3] == eq
        && ((name(&tokens[1]) && main(&tokens[4])) || (main(&tokens[1]) && name(&tokens[4])))
        && tokens[5] == Token::Op(b':')
}

/// Whether `tokens` start with `if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:` (any
/// module name before the dot).
fn is_type_checking(tokens: &[Token]) -> bool {
    let checking = |t: &Token| is_name(t, "TYPE_CHECKING");
    let colon = Token::Op(b':');
    match tokens {
        [first, flag, end, ..] if is_name(first, "if") && checking(flag) => *end == colon,
        [first, Token::Name(_), Token::Op(b'.'), flag, end, ..] if is_name(first, "if") => {
            checking(flag) && *end == colon
        }
        _ => false,
    }
}

/// Whether `token` is the name `word`.
fn is_name(token: &Token, word: &str) -> bool {
    matches!(token, Token::Name(name) if *name == word.as_bytes())
}

/// Where the block of the statement at `i` (indented `indent`) ends: the next logical line
/// indented no deeper (an `else:` of it included).
fn skip_block(tokens: &[Token], mut i: usize, indent: usize) -> usize {
    while i < tokens.len() {
        if matches!(tokens[i], Token::Newline(next) if next <= indent) {
            return i + 1;
        }
        i += 1;
    }
    i
}

/// A dotted name from `tokens[i]`: (the name, where it ends).
fn dotted(tokens: &[Token], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while let Some(Token::Name(part)) = tokens.get(i) {
        if *part == b"import" {
            break;
        }
        name.push_str(&String::from_utf8_lossy(part));
        i += 1;
        if tokens.get(i) == Some(&Token::Op(b'.'))
            && matches!(tokens.get(i + 1), Some(Token::Name(next)) if *next != b"import")
        {
            name.push('.');
            i += 1;
        } else {
            break;
        }
    }
    (name, i)
}

/// `import a.b as x, c` after the keyword; returns where the statement ends.
fn import_names(tokens: &[Token], mut i: usize, refs: &mut Vec<ImportRef>) -> usize {
    loop {
        let (module, next) = dotted(tokens, i);
        if module.is_empty() {
            return next.max(i);
        }
        refs.push(ImportRef {
            level: 0,
            module,
            names: Vec::new(),
        });
        i = skip_alias(tokens, next);
        if tokens.get(i) != Some(&Token::Op(b',')) {
            return i;
        }
        i += 1;
    }
}

/// `from .x import a, b` after `from`; returns where the statement ends.
fn from_import(tokens: &[Token], mut i: usize, refs: &mut Vec<ImportRef>) -> usize {
    let mut level = 0;
    while tokens.get(i) == Some(&Token::Op(b'.')) {
        level += 1;
        i += 1;
    }
    let (module, next) = dotted(tokens, i);
    i = next;
    if (level == 0 && module.is_empty()) || !tokens.get(i).is_some_and(|t| is_name(t, "import")) {
        return i;
    }
    i += 1;
    let parenthesised = tokens.get(i) == Some(&Token::Op(b'('));
    if parenthesised {
        i += 1;
    }
    let mut names = Vec::new();
    loop {
        match tokens.get(i) {
            Some(Token::Name(name)) => {
                names.push(String::from_utf8_lossy(name).into_owned());
                i = skip_alias(tokens, i + 1);
            }
            Some(Token::Op(b'*')) => i += 1,
            _ => break,
        }
        if tokens.get(i) != Some(&Token::Op(b',')) {
            break;
        }
        i += 1;
    }
    if parenthesised && tokens.get(i) == Some(&Token::Op(b')')) {
        i += 1;
    }
    refs.push(ImportRef {
        level,
        module,
        names,
    });
    i
}

fn skip_alias(tokens: &[Token], i: usize) -> usize {
    if tokens.get(i).is_some_and(|t| is_name(t, "as"))
        && matches!(tokens.get(i + 1), Some(Token::Name(_)))
    {
        i + 2
    } else {
        i
    }
}

fn is_name_byte(b: u8) -> bool {
    NAME_BYTES[usize::from(b)]
}

/// Which bytes names are made of: ASCII letters, digits and `_`, and every non-ASCII byte.
static NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
        b += 1;
    }
    table
};

/// The tokens of a source, and where the ones [`scan`] looks at stand.
struct Tokens<'a> {
    tokens: Vec<Token<'a>>,
    /// The indexes, ascending, of every `Newline`, every name that can start something
    /// (see [`is_marked_name`]) and every plain string with a dot.
    marks: Vec<usize>,
}

/// Whether [`scan`] looks at a name: the keywords that start or end what it reads, and
/// the functions that import by name.
fn is_marked_name(word: &[u8]) -> bool {
    matches!(
        word,
        b"import"
            | b"from"
            | b"try"
            | b"except"
            | b"else"
            | b"finally"
            | b"if"
            | b"import_module"
            | b"__import__"
    )
}

/// The tokens of `source`, with newlines inside brackets and after a backslash dropped.
fn tokenize(source: &[u8]) -> Tokens<'_> {
    let mut tokens = Vec::with_capacity(source.len() / 6 + 1);
    let mut marks = Vec::with_capacity(source.len() / 32 + 1);
    // Every logical line starts with its indentation, measured until its first token.
    marks.push(tokens.len());
    tokens.push(Token::Newline(0));
    let mut measuring = true;
    let mut depth: usize = 0;
    let mut i = 0;
    while let Some(&b) = source.get(i) {
        match b {
            b' ' | b'\t' | b'\x0c' => {
                let run = source[i..]
                    .iter()
                    .position(|c| !matches!(c, b' ' | b'\t' | b'\x0c'))
                    .unwrap_or(source.len() - i);
                if measuring && let Some(Token::Newline(indent)) = tokens.last_mut() {
                    for &blank in &source[i..i + run] {
                        *indent = if blank == b'\t' {
                            (*indent / 8 + 1) * 8
                        } else {
                            *indent + 1
                        };
                    }
                }
                i += run;
            }
            b'#' => i = memchr::memchr(b'\n', &source[i..]).map_or(source.len(), |n| i + n),
            b'\\' if source.get(i + 1) == Some(&b'\n') => i += 2,
            b'\\' if source.get(i + 1..i + 3) == Some(b"\r\n") => i += 3,
            b'\n' | b'\r' => {
                if depth == 0 {
                    if let Some(Token::Newline(indent)) = tokens.last_mut() {
                        *indent = 0;
                    } else {
                        marks.push(tokens.len());
                        tokens.push(Token::Newline(0));
                    }
                    measuring = true;
                }
                i += 1;
            }
            b'"' | b'\'' => {
                measuring = false;
                let (token, end) = string(source, i, b"");
                push_string(&mut tokens, &mut marks, token);
                i = end;
            }
            b'0'..=b'9' => {
                measuring = false;
                i += source[i..]
                    .iter()
                    .position(|&c| !is_name_byte(c) && c != b'.')
                    .unwrap_or(source.len() - i);
                tokens.push(Token::Number);
            }
            _ if is_name_byte(b) => {
                measuring = false;
                let start = i;
                i += source[i..]
                    .iter()
                    .position(|&c| !is_name_byte(c))
                    .unwrap_or(source.len() - i);
                let word = &source[start..i];
                let quoted = matches!(source.get(i), Some(b'"' | b'\''));
                if quoted && is_string_prefix(word) {
                    let (token, end) = string(source, i, word);
                    push_string(&mut tokens, &mut marks, token);
                    i = end;
                } else {
                    if is_marked_name(word) {
                        marks.push(tokens.len());
                    }
                    tokens.push(Token::Name(word));
                }
            }
            b'(' | b'[' | b'{' => {
                measuring = false;
                depth += 1;
                tokens.push(Token::Op(b));
                i += 1;
            }
            b')' | b']' | b'}' => {
                measuring = false;
                depth = depth.saturating_sub(1);
                tokens.push(Token::Op(b));
                i += 1;
            }
            _ => {
                // A backslash that continues no line leaves the indentation measured.
                measuring &= b == b'\\';
                tokens.push(Token::Op(b));
                i += 1;
            }
        }
    }
    Tokens { tokens, marks }
}

/// Pushes a string token, marked when it is a plain string with a dot.
fn push_string<'a>(tokens: &mut Vec<Token<'a>>, marks: &mut Vec<usize>, token: Token<'a>) {
    if let Token::Str(Some(text)) = token
        && memchr::memchr(b'.', text).is_some()
    {
        marks.push(tokens.len());
    }
    tokens.push(token);
}

/// Whether `word`, right before a quote, is a string prefix (`r`, `b`, `u`, `f`, `t` in
/// either case, up to three of them).
fn is_string_prefix(word: &[u8]) -> bool {
    word.len() <= 3
        && word
            .iter()
            .all(|c| matches!(c.to_ascii_lowercase(), b'r' | b'b' | b'u' | b'f' | b't'))
}

/// The string literal whose opening quote is at `start`; returns the token and where the
/// literal ends. An unterminated single-quoted string ends at its line's end, a
/// triple-quoted one at the end of the source.
fn string<'a>(source: &'a [u8], start: usize, prefix: &[u8]) -> (Token<'a>, usize) {
    let quote = source[start];
    let triple = source.get(start..start + 3) == Some(&[quote, quote, quote][..]);
    let open = if triple { 3 } else { 1 };
    let mut i = start + open;
    let mut escaped = false;
    let end = loop {
        // The next byte that can end the literal or escape one.
        let rest = source.get(i..).unwrap_or_default();
        let next = if triple {
            memchr::memchr2(quote, b'\\', rest)
        } else {
            memchr::memchr3(quote, b'\\', b'\n', rest)
        };
        let Some(n) = next else {
            break source.len();
        };
        i += n;
        let b = source[i];
        if b == b'\\' {
            escaped = true;
            i += 2;
            continue;
        }
        if b == quote && (!triple || source.get(i..i + 3) == Some(&[quote, quote, quote][..])) {
            break i;
        }
        if b == b'\n' && !triple {
            break i;
        }
        i += 1;
    };
    let end = end.min(source.len());
    let body = &source[(start + open).min(end)..end];
    let plain = !escaped
        && !prefix
            .iter()
            .any(|c| matches!(c.to_ascii_lowercase(), b'b' | b'f' | b't'));
    let text = plain.then_some(body);
    let close = if end < source.len() && source[end] == quote {
        open
    } else {
        0
    };
    (Token::Str(text), (end + close).min(source.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(level: usize, module: &str, names: &[&str]) -> ImportRef {
        ImportRef {
            level,
            module: module.into(),
            names: names.iter().map(|n| (*n).to_string()).collect(),
        }
    }

    fn refs(source: &str) -> Vec<ImportRef> {
        scan(source.as_bytes()).refs
    }

    #[test]
    fn plain_and_dotted_imports_with_aliases() {
        assert_eq!(
            refs("import os\nimport a.b.c as x, d\nimport e as f"),
            [
                r(0, "os", &[]),
                r(0, "a.b.c", &[]),
                r(0, "d", &[]),
                r(0, "e", &[])
            ]
        );
    }

    #[test]
    fn from_imports_absolute_relative_starred_and_parenthesised() {
        let source = "from json import loads, dumps as d\n\
                      from . import sibling\n\
                      from ..pkg.sub import (\n    a,\n    b as c,  # comment\n)\n\
                      from .mod import *\n\
                      from ... import far\n";
        assert_eq!(
            refs(source),
            [
                r(0, "json", &["loads", "dumps"]),
                r(1, "", &["sibling"]),
                r(2, "pkg.sub", &["a", "b"]),
                r(1, "mod", &[]),
                r(3, "", &["far"]),
            ]
        );
    }

    #[test]
    fn imports_inside_functions_try_blocks_and_branches() {
        let source = "def page():\n    import fractions\n    return fractions.Fraction(1, 3)\n\
                      try:\n    from _decimal import *\nexcept ImportError:\n    from _pydecimal import *\n\
                      if sys.platform == 'win32': import nt\nelse: import posix; import pwd\n\
                      class A:\n    def f(self):\n        if x:\n            from sqlite3 import dbapi2\n";
        let modules: Vec<String> = refs(source).into_iter().map(|r| r.module).collect();
        assert_eq!(
            modules,
            [
                "fractions",
                "_decimal",
                "_pydecimal",
                "nt",
                "posix",
                "pwd",
                "sqlite3"
            ]
        );
    }

    #[test]
    fn strings_and_comments_hide_imports() {
        let source = r####"
# import commented
x = "import in_string"
y = 'from a import b'
z = """
import in_docstring
from docstring import x
"""
w = r'\' import raw_escaped'
v = b"import bytes"
u = f"{x} import fstring"
t = '''it's
import triple_single
'''
s = "escaped \" import quote"
import real
"####;
        assert_eq!(refs(source), [r(0, "real", &[])]);
    }

    #[test]
    fn continuations_and_semicolons() {
        let source = "import a, \\\n    b\nx = 1; import c; from d import \\\n    e\n";
        assert_eq!(
            refs(source),
            [
                r(0, "a", &[]),
                r(0, "b", &[]),
                r(0, "c", &[]),
                r(0, "d", &["e"])
            ]
        );
    }

    #[test]
    fn the_main_block_is_skipped_but_not_its_else() {
        let source = "import a\n\
                      def f():\n    import b\n\
                      if __name__ == \"__main__\":\n\
                      \x20   import doctest\n\
                      \n\
                      \x20   # a comment\n\
                      \x20   if x:\n        import argparse\n\
                      else:\n    import c\n\
                      if '__main__' == __name__: import d\n\
                      import e\n\
                      \tif __name__ == '__main__':\n\t\timport f\n\timport g\n";
        let modules: Vec<String> = refs(source).into_iter().map(|r| r.module).collect();
        assert_eq!(modules, ["a", "b", "c", "e", "g"]);
    }

    #[test]
    fn type_checking_blocks_are_skipped_but_not_their_else() {
        let source = "from typing import TYPE_CHECKING\n\
                      import typing as t\n\
                      if TYPE_CHECKING:\n    from decimal import Decimal\n    import fractions\n\
                      else:\n    import numbers\n\
                      if t.TYPE_CHECKING: import statistics\n\
                      def f():\n    if typing.TYPE_CHECKING:\n        import csv\n    import json\n\
                      if TYPE_CHECKING or DEBUG:\n    import pprint\n";
        let modules: Vec<String> = refs(source).into_iter().map(|r| r.module).collect();
        assert_eq!(modules, ["typing", "typing", "numbers", "json", "pprint"]);
    }

    #[test]
    fn yield_from_and_raise_from_are_not_imports() {
        let source = "def g():\n    yield from range(3)\n    raise X from err\n    import real\n";
        assert_eq!(refs(source), [r(0, "real", &[])]);
    }

    #[test]
    fn literal_dynamic_imports_are_followed_and_computed_ones_counted() {
        let source = "import importlib\n\
                      m = importlib.import_module('xml.dom.minidom')\n\
                      n = import_module(\".sub\", __package__)\n\
                      o = __import__(\"email.mime.text\", fromlist=['x'])\n\
                      p = importlib.import_module(name)\n\
                      q = __import__(f'encodings.{name}')\n\
                      def import_module(name, package=None):\n    pass\n";
        let imports = scan(source.as_bytes());
        assert_eq!(
            imports.refs,
            [
                r(0, "importlib", &[]),
                r(0, "xml.dom.minidom", &[]),
                r(1, "sub", &[]),
                r(0, "email.mime.text", &[]),
            ]
        );
        assert_eq!(imports.computed, 2);
    }

    #[test]
    fn string_prefixes_and_crlf_line_ends() {
        let source =
            "x = Rb'import no'\r\ny = U\"import no\"\r\nimport yes\r\nfrom p import \\\r\n q\r\n";
        assert_eq!(refs(source), [r(0, "yes", &[]), r(0, "p", &["q"])]);
    }

    #[test]
    fn unterminated_strings_and_brackets_do_not_swallow_the_rest_of_a_line_based_file() {
        assert_eq!(refs("x = 'open\nimport a\n"), [r(0, "a", &[])]);
        assert_eq!(refs("import"), []);
        assert_eq!(refs("from"), []);
        assert_eq!(refs("from . import"), [r(1, "", &[])]);
        assert_eq!(refs("from x import ("), [r(0, "x", &[])]);
    }

    /// Found by the fuzzer: `import d. import x` reported the module `d.` (the dot was
    /// taken before `import` ended the name).
    #[test]
    fn a_dotted_name_stops_before_the_import_keyword_after_its_dot() {
        assert_eq!(
            refs("import d. import x\n"),
            [r(0, "d", &[]), r(0, "x", &[])]
        );
    }

    #[test]
    fn a_literal_that_names_no_module_is_counted_as_computed() {
        for literal in ["a..b", "a.", ".a..", "a b", ""] {
            let imports = scan(format!("__import__({literal:?})\n").as_bytes());
            assert_eq!(imports.refs, [], "{literal}");
            assert_eq!(imports.computed, 1, "{literal}");
        }
        assert_eq!(refs("import_module('..a.b')\n"), [r(2, "a.b", &[])]);
        assert_eq!(refs("import_module('..')\n"), [r(2, "", &[])]);
    }

    fn guards(source: &str) -> Vec<(String, Guard)> {
        let imports = scan(source.as_bytes());
        assert_eq!(imports.refs.len(), imports.guards.len());
        imports
            .refs
            .into_iter()
            .map(|r| r.module)
            .zip(imports.guards)
            .collect()
    }

    fn tried(id: usize) -> Guard {
        Guard {
            tried_in: Some(id),
            fallback_of: None,
        }
    }

    fn fallback(id: usize) -> Guard {
        Guard {
            tried_in: None,
            fallback_of: Some(id),
        }
    }

    #[test]
    fn imports_in_try_bodies_and_their_import_error_fallbacks_are_told_apart() {
        let source = "\
import a
try:
    from _fast import x
    import _fast2
except ImportError:
    from _slow import x
else:
    import b
import c
def f():
    try: import d
    except (OSError, ModuleNotFoundError) as e: import e2
    except KeyError:
        import k
    finally:
        import z
    try:
        pass
    except:
        import bare
    import after
";
        assert_eq!(
            guards(source),
            [
                ("a".into(), Guard::default()),
                ("_fast".into(), tried(0)),
                ("_fast2".into(), tried(0)),
                ("_slow".into(), fallback(0)),
                ("b".into(), Guard::default()),
                ("c".into(), Guard::default()),
                ("d".into(), tried(1)),
                ("e2".into(), fallback(1)),
                ("k".into(), Guard::default()),
                ("z".into(), Guard::default()),
                ("bare".into(), fallback(2)),
                ("after".into(), Guard::default()),
            ]
        );
    }

    #[test]
    fn nested_tries_guard_with_the_innermost() {
        let source = "try:\n    try:\n        import a\n    except ImportError:\n        import b\n    import c\nexcept Exception:\n    import d\n";
        assert_eq!(
            guards(source),
            [
                ("a".into(), tried(1)),
                ("b".into(), fallback(1)),
                ("c".into(), tried(0)),
                ("d".into(), fallback(0)),
            ]
        );
    }

    #[test]
    fn dotted_name_strings_are_reported_as_named() {
        let source = "MIDDLEWARE = [\n    'django.middleware.csrf.CsrfViewMiddleware',\n    \"app.mw\",\n]\nx = 'a.b c'; y = 'v1.2'; z = 'plain'; w = b'a.b'; u = f'a.b'\nn = 'x..y'; m = '.a'\n";
        assert_eq!(
            scan(source.as_bytes()).named,
            ["django.middleware.csrf.CsrfViewMiddleware", "app.mw"]
        );
        assert_eq!(
            scan(b"# 'a.b'\n\"\"\"doc a.b\"\"\"\n").named,
            Vec::<String>::new()
        );
    }

    /// String text is checked for UTF-8 only where it is used: a literal that is not
    /// UTF-8 names nothing and imports nothing, as one with escapes.
    #[test]
    fn literals_that_are_not_utf8_name_and_import_nothing() {
        let imports = scan(b"x = 'a.\xff'\n__import__('b.\xfe')\nimport c\n");
        assert_eq!(imports.refs, [r(0, "c", &[])]);
        assert_eq!(imports.named, Vec::<String>::new());
        assert_eq!(imports.computed, 1);
    }

    /// A small deterministic generator: the property tests need no crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn never_panics_on_any_bytes() {
        let pieces: &[&[u8]] = &[
            b"import ",
            b"from ",
            b" . ",
            b"..",
            b"(",
            b")",
            b",",
            b"'",
            b"\"",
            b"'''",
            b"\"\"\"",
            b"\\",
            b"\n",
            b"\r\n",
            b"#",
            b"r",
            b"b",
            b"f",
            b" as ",
            b"x",
            b"*",
            b";",
            b":",
            b"__import__(",
            b"import_module(",
            b"\xff\xfe",
            b"\xc3\xa9",
            b"0x1f",
            b"\0",
        ];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let len = (rng.next() % 24) as usize;
            let mut input = Vec::new();
            for _ in 0..len {
                if rng.next().is_multiple_of(4) {
                    input.push(rng.next() as u8);
                } else {
                    input.extend_from_slice(pieces[(rng.next() as usize) % pieces.len()]);
                }
            }
            let imports = scan(&input);
            for r in imports.refs {
                assert!(!r.module.starts_with('.') || r.level > 0, "{input:?}");
            }
        }
        // Every prefix of a file with every construct.
        let source = b"from ..a import (b as c,\n d)\nx = r'''\\''' + f\"{y}\"\nimport e.f as g; __import__('h')\n";
        for end in 0..=source.len() {
            scan(&source[..end]);
        }
    }
}
