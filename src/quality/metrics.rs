//! Sample quality as the paper's code monitors it: the base-2 Jensen–Shannon divergence
//! between the character n-gram distributions (n = 1..4) of generated text and of the corpus.
//! Every line is padded (or cut) to `SEQ_LEN` characters with a pad character first, so the
//! n-grams see line lengths too. Besides: the valid-word rate (are the words real?), the
//! unique-sample rate (mode collapse shows here) and novelty (memorisation shows here).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::data::corpus::SEQ_LEN;

/// The pad character used when scoring text (as in the paper's code).
pub const PAD_CHAR: char = '`';
pub const MAX_N: usize = 4;

/// Counts of the character n-grams of a set of lines, n = 1..=MAX_N.
#[derive(Debug, Clone, Default)]
pub struct NgramTable {
    counts: [HashMap<u128, u64>; MAX_N],
    totals: [u64; MAX_N],
}

impl NgramTable {
    pub fn from_lines<S: AsRef<str>>(lines: &[S]) -> Self {
        let mut t = NgramTable::default();
        for line in lines {
            let chars = pad_line(line.as_ref());
            for n in 1..=MAX_N {
                for w in chars.windows(n) {
                    let key = w.iter().fold(0u128, |k, &c| (k << 21) | c as u128);
                    *t.counts[n - 1].entry(key).or_default() += 1;
                    t.totals[n - 1] += 1;
                }
            }
        }
        t
    }

    /// Base-2 JSD of the n-gram distributions, `n` in 1..=4: 0 identical, 1 disjoint.
    ///
    /// `JS = ½ Σ p log(p/m) + ½ Σ q log(q/m)`, `m = (p+q)/2`, over the union of the supports.
    /// It is symmetric, so the sum runs over the smaller table's n-grams (the samples', not
    /// the corpus's) in a fixed order, so the same counts give the same bits in every process.
    /// An n-gram only the other table has contributes `½ q log 2 = ½ q`: together `½ (1 − Σ q)`
    /// over the shared ones.
    pub fn js_divergence(&self, other: &NgramTable, n: usize) -> f64 {
        let (mut p, mut q) = (&self.counts[n - 1], &other.counts[n - 1]);
        let (mut tp, mut tq) = (self.totals[n - 1] as f64, other.totals[n - 1] as f64);
        if tp == 0.0 || tq == 0.0 {
            return 1.0;
        }
        let sorted = |t: &HashMap<u128, u64>| {
            let mut k: Vec<u128> = t.keys().copied().collect();
            k.sort_unstable();
            k
        };
        // The smaller table; between equal sizes, a fixed choice (totals, then keys), so that
        // JS(a, b) and JS(b, a) run the same sum.
        let swap = match q.len().cmp(&p.len()) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => {
                (other.totals[n - 1], sorted(q)) < (self.totals[n - 1], sorted(p))
            }
        };
        if swap {
            std::mem::swap(&mut p, &mut q);
            std::mem::swap(&mut tp, &mut tq);
        }
        let keys = sorted(p);
        let mut js = 0.0;
        let mut shared_q = 0.0;
        for k in keys {
            let pp = p[&k] as f64 / tp;
            let pq = q.get(&k).map_or(0.0, |&c| c as f64 / tq);
            let m = 0.5 * (pp + pq);
            js += 0.5 * pp * (pp / m).log2();
            if pq > 0.0 {
                js += 0.5 * pq * (pq / m).log2();
                shared_q += pq;
            }
        }
        js += 0.5 * (1.0 - shared_q).max(0.0);
        js.clamp(0.0, 1.0)
    }

    /// JSD for n = 1..=4.
    pub fn js_all(&self, other: &NgramTable) -> [f64; MAX_N] {
        std::array::from_fn(|i| self.js_divergence(other, i + 1))
    }
}

/// What samples are scored against: the corpus's n-grams, words and (padded) lines.
#[derive(Debug, Clone)]
pub struct Reference {
    ngrams: NgramTable,
    words: HashSet<String>,
    lines: HashSet<Vec<char>>,
}

/// A character is reported missing from samples when, at its share of the reference, they
/// would hold it at least this often (a Poisson count with this mean is 0 less than 1% of the
/// time): a character the generator does not write, not a rare one absent by chance.
pub const MISSING_EXPECTED: f64 = 5.0;

/// The characters of the reference that samples never write although they would be expected
/// [`MISSING_EXPECTED`] times or more ([`missing_characters`]). A generator whose
/// softmax has put almost no mass on a character seldom learns it back, since the softmax's
/// gradient is proportional to that mass (docs/quality §28); every word that needs it is then
/// misspelt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingCharacters {
    /// The characters, the reference's most frequent first.
    pub chars: Vec<char>,
    /// Their share of the reference's characters (padding not counted).
    pub char_share: f64,
    /// The share of the reference's words that hold at least one of them.
    pub word_share: f64,
}

impl MissingCharacters {
    /// The characters in quotes for a terminal, e.g. `'k' '-' ' '`.
    pub fn listed(&self) -> String {
        let quoted: Vec<String> = self.chars.iter().map(|c| format!("{c:?}")).collect();
        quoted.join(" ")
    }
}

/// The quality of a set of samples against a [`Reference`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    pub n_samples: usize,
    /// JSD-1..4 (base 2): 0 identical n-gram distributions, 1 disjoint.
    pub js: [f64; MAX_N],
    /// Share of the samples' whitespace-separated words (padding ignored) that occur in the
    /// corpus; `None` when the samples hold no word at all.
    pub valid_word_rate: Option<f64>,
    /// Distinct samples / samples (after padding to `SEQ_LEN`).
    pub unique_rate: f64,
    /// Share of samples that are not a line of the corpus (after padding to `SEQ_LEN`).
    pub novelty: f64,
}

impl Reference {
    /// `lines`: the corpus lines samples are compared with (cut to `SEQ_LEN` here if longer);
    /// `words`: the corpus's words, taken from its uncut lines.
    pub fn new<S: AsRef<str>>(lines: &[S], words: HashSet<String>) -> Self {
        Reference {
            ngrams: NgramTable::from_lines(lines),
            words,
            lines: lines.iter().map(|l| pad_line(l.as_ref())).collect(),
        }
    }

    /// The n-gram table of the reference lines.
    pub fn ngrams(&self) -> &NgramTable {
        &self.ngrams
    }

    pub fn score<S: AsRef<str>>(&self, samples: &[S]) -> Scores {
        let padded: Vec<Vec<char>> = samples.iter().map(|s| pad_line(s.as_ref())).collect();
        let n = padded.len();
        let (mut words, mut valid) = (0usize, 0usize);
        for p in &padded {
            let text: String = p
                .iter()
                .map(|&c| if c == PAD_CHAR { ' ' } else { c })
                .collect();
            for w in text.split_whitespace() {
                words += 1;
                valid += usize::from(self.words.contains(w));
            }
        }
        let distinct = padded.iter().collect::<HashSet<_>>().len();
        let novel = padded.iter().filter(|p| !self.lines.contains(*p)).count();
        let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        Scores {
            n_samples: n,
            js: NgramTable::from_lines(samples).js_all(&self.ngrams),
            valid_word_rate: (words > 0).then(|| valid as f64 / words as f64),
            unique_rate: share(distinct),
            novelty: share(novel),
        }
    }
}

/// The characters of the corpus `lines` (cut to `SEQ_LEN` as samples are; padding aside) that
/// `samples` never write although, at their share of the corpus's characters, they would hold
/// each [`MISSING_EXPECTED`] times or more.
pub fn missing_characters<L: AsRef<str>, S: AsRef<str>>(
    lines: &[L],
    samples: &[S],
) -> MissingCharacters {
    // As samples are read: cut to `SEQ_LEN`; padding is not a character of the corpus.
    let chars_of = |line: &str| -> Vec<char> {
        line.chars()
            .take(SEQ_LEN)
            .filter(|&c| c != PAD_CHAR)
            .collect()
    };
    let mut written = HashSet::new();
    let mut sample_chars = 0u64;
    for s in samples {
        for c in chars_of(s.as_ref()) {
            written.insert(c);
            sample_chars += 1;
        }
    }
    let mut counts: HashMap<char, u64> = HashMap::new();
    let mut words: HashMap<String, u64> = HashMap::new();
    for line in lines {
        for c in chars_of(line.as_ref()) {
            *counts.entry(c).or_default() += 1;
        }
        let cut: String = line.as_ref().chars().take(SEQ_LEN).collect();
        for w in cut.split_whitespace() {
            *words.entry(w.to_string()).or_default() += 1;
        }
    }
    let total: u64 = counts.values().sum();
    let mut missing: Vec<(char, u64)> = counts
        .into_iter()
        .filter(|&(c, n)| {
            let expected = n as f64 / total.max(1) as f64 * sample_chars as f64;
            !written.contains(&c) && expected >= MISSING_EXPECTED
        })
        .collect();
    missing.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let chars: Vec<char> = missing.iter().map(|&(c, _)| c).collect();
    let char_share = missing.iter().map(|&(_, n)| n).sum::<u64>() as f64 / total.max(1) as f64;
    let (mut all, mut holding) = (0u64, 0u64);
    for (w, &n) in &words {
        all += n;
        if w.chars().any(|c| chars.contains(&c)) {
            holding += n;
        }
    }
    MissingCharacters {
        chars,
        char_share,
        word_share: holding as f64 / all.max(1) as f64,
    }
}

/// A line as exactly `SEQ_LEN` characters: cut, or padded with [`PAD_CHAR`].
pub fn pad_line(line: &str) -> Vec<char> {
    let mut chars: Vec<char> = line.chars().take(SEQ_LEN).collect();
    chars.resize(SEQ_LEN, PAD_CHAR);
    chars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsd_is_symmetric_and_the_same_bits_however_the_tables_hash() {
        // Tables built anew hash their keys in a different order each time; the sum must not
        // depend on it (it used to, in the last bits).
        let lines: Vec<String> = (0..400)
            .map(|i| format!("line {i} of {} words", (i * 7919) % 1000))
            .collect();
        let samples: Vec<String> = (0..50)
            .map(|i| format!("lime {} or words", i * 3))
            .collect();
        let reference = NgramTable::from_lines(&lines).js_all(&NgramTable::from_lines(&samples));
        for _ in 0..20 {
            let (a, b) = (
                NgramTable::from_lines(&lines),
                NgramTable::from_lines(&samples),
            );
            for n in 1..=MAX_N {
                let (ab, ba) = (a.js_divergence(&b, n), b.js_divergence(&a, n));
                assert_eq!(ab.to_bits(), reference[n - 1].to_bits(), "n = {n}");
                assert_eq!(ab.to_bits(), ba.to_bits(), "n = {n}");
            }
        }
        // Two tables of the same size: still symmetric to the bit.
        let (c, d) = (
            NgramTable::from_lines(&["abcdefgh xyz"]),
            NgramTable::from_lines(&["hgfedcba zyx"]),
        );
        for n in 1..=MAX_N {
            assert_eq!(c.counts[n - 1].len(), d.counts[n - 1].len());
            assert_eq!(
                c.js_divergence(&d, n).to_bits(),
                d.js_divergence(&c, n).to_bits(),
                "n = {n}"
            );
        }
        // And the value is the definition's, summed over the union directly.
        let (a, b) = (
            NgramTable::from_lines(&lines),
            NgramTable::from_lines(&samples),
        );
        for n in 1..=MAX_N {
            let (p, q) = (&a.counts[n - 1], &b.counts[n - 1]);
            let (tp, tq) = (a.totals[n - 1] as f64, b.totals[n - 1] as f64);
            let mut union: Vec<u128> = p.keys().chain(q.keys()).copied().collect();
            union.sort_unstable();
            union.dedup();
            let term = |x: f64, m: f64| {
                if x > 0.0 {
                    0.5 * x * (x / m).log2()
                } else {
                    0.0
                }
            };
            let direct: f64 = union
                .iter()
                .map(|k| {
                    let x = p.get(k).map_or(0.0, |&c| c as f64 / tp);
                    let y = q.get(k).map_or(0.0, |&c| c as f64 / tq);
                    term(x, 0.5 * (x + y)) + term(y, 0.5 * (x + y))
                })
                .sum();
            assert!((a.js_divergence(&b, n) - direct).abs() < 1e-12, "n = {n}");
        }
    }

    #[test]
    fn identical_sets_have_zero_divergence_and_disjoint_sets_one() {
        let a = NgramTable::from_lines(&["abc", "abd"]);
        let b = NgramTable::from_lines(&["abd", "abc"]);
        assert!(a.js_divergence(&b, 1).abs() < 1e-12);
        let x = NgramTable::from_lines(&["x".repeat(32)]);
        let y = NgramTable::from_lines(&["y".repeat(32)]);
        for n in 1..=4 {
            assert!((x.js_divergence(&y, n) - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn word_unique_and_novelty_rates_count_as_defined() {
        let words: HashSet<String> = ["the", "cat", "sat"].map(String::from).into();
        let r = Reference::new(&["the cat sat", "a dog"], words);
        // 8 words, all valid but "dgo": 7 of 8. Pad characters separate words like spaces.
        let s = r.score(&["the cat sat", "dgo``the", "the cat sat"]);
        assert_eq!(s.n_samples, 3);
        assert!((s.valid_word_rate.unwrap() - 7.0 / 8.0).abs() < 1e-12);
        assert!((s.unique_rate - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.novelty - 1.0 / 3.0).abs() < 1e-12);
        // A sample cut at SEQ_LEN is the same sample as its cut form; no words → None.
        let s = r.score(&["", "````"]);
        assert_eq!(s.valid_word_rate, None);
        assert!((s.unique_rate - 0.5).abs() < 1e-12);
        assert_eq!(s.novelty, 1.0);
    }

    #[test]
    fn missing_characters_are_those_expected_five_times_and_never_written() {
        // 23 characters (two spaces) in 6 words: 'k' 5 times, 'w' once.
        let lines = ["like lake", "kale", "leak", "a kiwi"];
        let total = 23.0;
        // 58 sample characters without 'k' or 'w': 'k' is expected 58·5/23 = 12.6 times,
        // 'w' 58/23 = 2.5 times, so only 'k' is missing.
        let samples = [
            "lie ale ile lea".repeat(2),
            "ale lie ea ial aaaie lia ele".to_string(),
        ];
        let written: usize = samples.iter().map(|s| s.chars().count()).sum();
        assert_eq!(written, 58);
        let m = missing_characters(&lines, &samples);
        assert_eq!(m.chars, vec!['k']);
        assert!((m.char_share - 5.0 / total).abs() < 1e-12);
        // Words holding 'k': like, lake, kale, leak, kiwi: 5 of 6.
        assert!((m.word_share - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.listed(), "'k'");
        // Writing it once is enough; padding is not a character of the corpus.
        let m = missing_characters(
            &lines,
            &[format!("k{}", &samples[0][1..]), samples[1].clone()],
        );
        assert!(m.chars.is_empty());
        assert_eq!((m.char_share, m.word_share), (0.0, 0.0));
        // Too few sample characters for any to be expected five times: none reported.
        assert!(missing_characters(&lines, &["a````"]).chars.is_empty());
    }

    #[test]
    fn divergence_matches_hand_computation() {
        // Unigrams of "a" + 31 pads vs "b" + 31 pads: P = {a:1/32, `:31/32}, Q = {b:1/32, `:31/32}.
        let p = NgramTable::from_lines(&["a"]);
        let q = NgramTable::from_lines(&["b"]);
        // Only the 1/32 masses on a and b differ, each against m = 1/64: JS = 1/32.
        assert!((p.js_divergence(&q, 1) - 1.0 / 32.0).abs() < 1e-12);
    }
}
