//! What varies between two answers of the original to the same probe, learned rather than
//! guessed: the two texts are split into tokens (words of letters, digits, `_` and `-`;
//! every other character on its own), a token-level diff finds what they share, and each
//! run of tokens that differs becomes a hole. The new image's answer must then hold every
//! shared part, in order, with a hole of about the size seen in each varying place.
//!
//! Tokens are compared in their normalised form (digit runs folded, long letter-and-digit
//! tokens folded; see [`super::normalise`]), so a time stamp that stayed the same between
//! the original's two answers but moved on by the new image's run is still the same. Pure.

use std::collections::HashSet;

/// Beyond this many differing tokens the two answers are taken as unrelated: the diff
/// would cost too much and say little.
const MAX_EDITS: usize = 1024;

/// The longest text of one side of a hole shown in the report.
const SHOWN: usize = 40;

/// The parts of an answer that stay and the places that vary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// Normalised text both answers have here.
    Fixed(String),
    /// A place where the answers differ: the raw text of each, and how many bytes (of
    /// normalised text) the new image's answer may have here.
    Hole {
        first: String,
        second: String,
        bound: usize,
    },
}

/// Splits `text` into words (letters, digits, `_`, `-`) and single other characters.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let word = c.is_ascii_alphanumeric() || c == '_' || c == '-';
        match (word, start) {
            (true, None) => start = Some(i),
            (true, Some(_)) => {}
            (false, Some(s)) => {
                out.push(&text[s..i]);
                out.push(&text[i..i + c.len_utf8()]);
                start = None;
            }
            (false, None) => out.push(&text[i..i + c.len_utf8()]),
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// The pairs `(i, j)` of tokens `a[i] == b[j]` of a longest common subsequence (Myers'
/// greedy O((N+M)D) diff), or `None` when more than [`MAX_EDITS`] edits separate them.
fn common(a: &[String], b: &[String]) -> Option<Vec<(usize, usize)>> {
    // What both start and end with needs no search.
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut pairs: Vec<(usize, usize)> = (0..prefix).map(|i| (i, i)).collect();
    for (i, j) in middle(ma, mb)? {
        pairs.push((prefix + i, prefix + j));
    }
    pairs.extend((0..suffix).map(|k| (a.len() - suffix + k, b.len() - suffix + k)));
    Some(pairs)
}

/// Myers' diff of `a` and `b`: the matched pairs, in order.
fn middle(a: &[String], b: &[String]) -> Option<Vec<(usize, usize)>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    if n == 0 || m == 0 {
        return Some(Vec::new());
    }
    let limit = (a.len() + b.len()).min(MAX_EDITS) as isize;
    let offset = limit + 1;
    let at = |k: isize| usize::try_from(k + offset).unwrap_or(0);
    let mut v = vec![0isize; usize::try_from(2 * offset + 1).unwrap_or(0)];
    // The furthest x on each diagonal after each number of edits, for the way back.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let mut reached = None;
    'search: for d in 0..=limit {
        trace.push(v[at(-d)..=at(d)].to_vec());
        let mut k = -d;
        while k <= d {
            let down = k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]);
            let mut x = if down { v[at(k + 1)] } else { v[at(k - 1)] + 1 };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                reached = Some(d);
                break 'search;
            }
            k += 2;
        }
    }
    let d_end = reached?;
    let mut pairs = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (1..=d_end).rev() {
        // The furthest x on diagonal k before the d-th edit.
        let snapshot = &trace[usize::try_from(d).unwrap_or(0)];
        let before = |k: isize| snapshot[usize::try_from(k + d).unwrap_or(0)];
        let k = x - y;
        let down = k == -d || (k != d && before(k - 1) < before(k + 1));
        let prev_k = if down { k + 1 } else { k - 1 };
        let prev_x = before(prev_k);
        let prev_y = prev_x - prev_k;
        let (start_x, start_y) = if down {
            (prev_x, prev_y + 1)
        } else {
            (prev_x + 1, prev_y)
        };
        while x > start_x && y > start_y {
            x -= 1;
            y -= 1;
            pairs.push((x as usize, y as usize));
        }
        x = prev_x;
        y = prev_y;
    }
    while x > 0 && y > 0 {
        x -= 1;
        y -= 1;
        pairs.push((x as usize, y as usize));
    }
    pairs.reverse();
    Some(pairs)
}

fn shown(tokens: &[&str]) -> String {
    let text: String = tokens.concat();
    if text.chars().count() > SHOWN {
        let mut cut: String = text.chars().take(SHOWN).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

impl Mask {
    /// What two answers of the original share, with a hole wherever they differ.
    pub fn learn(first: &str, second: &str) -> Mask {
        let (ta, tb) = (tokens(first), tokens(second));
        let key = |t: &&str| super::normalise(t);
        let (ka, kb): (Vec<String>, Vec<String>) =
            (ta.iter().map(key).collect(), tb.iter().map(key).collect());
        let mut segments = Vec::new();
        let push_fixed = |segments: &mut Vec<Segment>, text: &str| {
            if let Some(Segment::Fixed(last)) = segments.last_mut() {
                last.push_str(text);
            } else {
                segments.push(Segment::Fixed(text.to_string()));
            }
        };
        let hole = |from: (usize, usize), to: (usize, usize)| {
            let (ra, rb) = (&ta[from.0..to.0], &tb[from.1..to.1]);
            let longest = ka[from.0..to.0]
                .iter()
                .map(String::len)
                .sum::<usize>()
                .max(kb[from.1..to.1].iter().map(String::len).sum());
            Segment::Hole {
                first: shown(ra),
                second: shown(rb),
                bound: 2 * longest + 16,
            }
        };
        let Some(pairs) = common(&ka, &kb) else {
            return Mask {
                segments: vec![hole((0, 0), (ta.len(), tb.len()))],
            };
        };
        let mut at = (0, 0);
        for (i, j) in pairs.into_iter().chain([(ta.len(), tb.len())]) {
            if (i, j) != at {
                segments.push(hole(at, (i, j)));
            }
            if i < ta.len() {
                push_fixed(&mut segments, &ka[i]);
            }
            at = (i + 1, j + 1);
        }
        Mask { segments }
    }

    /// Whether the two answers differed at all (after normalising).
    pub fn varies(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Hole { .. }))
    }

    /// The varying places, as `first | second` (each side cut short), for the report.
    pub fn masked(&self) -> Vec<String> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Hole { first, second, .. } => Some(format!("{first} | {second}")),
                Segment::Fixed(_) => None,
            })
            .collect()
    }

    /// Whether `text` holds every shared part in order, with no more than a hole's bound
    /// of other text in each varying place (and nothing else).
    pub fn matches(&self, text: &str) -> bool {
        let text: String = tokens(text).iter().map(|t| super::normalise(t)).collect();
        let mut failed = HashSet::new();
        self.match_from(&text, 0, 0, 0, &mut failed)
    }

    /// Matches segments from `seg` on at byte `pos`, with `slack` bytes of the holes just
    /// passed still to be given out. `failed` remembers the states that did not match.
    fn match_from(
        &self,
        text: &str,
        seg: usize,
        pos: usize,
        slack: usize,
        failed: &mut HashSet<(usize, usize, usize)>,
    ) -> bool {
        let Some(segment) = self.segments.get(seg) else {
            return text.len() - pos <= slack;
        };
        if failed.contains(&(seg, pos, slack)) {
            return false;
        }
        let found = match segment {
            Segment::Hole { bound, .. } => {
                self.match_from(text, seg + 1, pos, slack + bound, failed)
            }
            Segment::Fixed(fixed) => {
                let rest = &text[pos..];
                let window = &rest[..floor_boundary(rest, slack + fixed.len())];
                window
                    .match_indices(fixed.as_str())
                    .map(|(i, _)| i)
                    .filter(|i| *i <= slack)
                    .any(|i| self.match_from(text, seg + 1, pos + i + fixed.len(), 0, failed))
            }
        };
        if !found {
            failed.insert((seg, pos, slack));
        }
        found
    }
}

/// The largest char boundary of `text` at or below `at`.
fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(id: &str, nonce: &str, time: &str) -> String {
        format!(
            "<html><body><div id=\"item-{id}\">Hello</div>\
             <script nonce=\"{nonce}\">go()</script><p>rendered {time}</p>\
             <footer>the footer</footer></body></html>"
        )
    }

    #[test]
    fn tokens_are_words_and_single_other_characters() {
        assert_eq!(tokens("a-b_1 <x>é"), ["a-b_1", " ", "<", "x", ">", "é"]);
        assert!(tokens("").is_empty());
    }

    #[test]
    fn what_varies_between_two_answers_is_masked() {
        let a = page("x7Kq", "r4nD0mN0nce", "Thu Dec 3 19:12:07.183");
        let b = page("Pz2m", "an0th3rOne", "Thu Dec 3 19:12:08.911");
        let mask = Mask::learn(&a, &b);
        assert!(mask.varies());
        let masked = mask.masked();
        assert_eq!(masked.len(), 2, "{masked:?}");
        assert!(masked[0].contains("item-x7Kq | item-Pz2m"), "{masked:?}");
        // A third render, later, with other random values, matches.
        let c = page("Qq9w", "yetAn0ther", "Thu Dec 3 19:40:51.002");
        assert!(mask.matches(&c));
        assert!(mask.matches(&a) && mask.matches(&b));
        // Missing text is not masked.
        assert!(!mask.matches(&c.replace("the footer", "")));
        assert!(!mask.matches(&c.replace("Hello", "Goodbye")));
        assert!(!mask.matches(""));
        // A hole holds about what it held, not a whole error page.
        let long = "Traceback (most recent call last): ".repeat(4);
        assert!(!mask.matches(&page(&long, "n", "t")));
    }

    #[test]
    fn identical_answers_leave_nothing_to_mask() {
        let mask = Mask::learn("same 12 text", "same 13 text");
        assert!(!mask.varies(), "digits are folded before comparing");
        assert!(mask.matches("same 99 text"));
        assert!(!mask.matches("same 99 text!"));
        assert!(Mask::learn("", "").matches(""));
    }

    #[test]
    fn holes_at_the_ends_and_backtracking() {
        let mask = Mask::learn("abc tail", "xyz tail");
        assert!(mask.matches("qqq tail"));
        assert!(!mask.matches("qqq tai"));
        let mask = Mask::learn("head abc", "head xyz");
        assert!(mask.matches("head k"));
        assert!(mask.matches("head "));
        // The first place a shared part appears is not always the one that matches.
        let mask = Mask::learn("a x b y c", "a z b w c");
        assert!(mask.matches("a b b q c"));
    }

    #[test]
    fn unrelated_answers_are_one_hole() {
        let a: String = (0..3000).map(|i| format!("a{i} ")).collect();
        let b: String = (0..3000).map(|i| format!("b{i}; ")).collect();
        let mask = Mask::learn(&a, &b);
        assert_eq!(mask.masked().len(), 1);
        assert!(mask.varies());
    }
}
