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
    fn divergence_matches_hand_computation() {
        // Unigrams of "a" + 31 pads vs "b" + 31 pads: P = {a:1/32, `:31/32}, Q = {b:1/32, `:31/32}.
        let p = NgramTable::from_lines(&["a"]);
        let q = NgramTable::from_lines(&["b"]);
        // Only the 1/32 masses on a and b differ, each against m = 1/64: JS = 1/32.
        assert!((p.js_divergence(&q, 1) - 1.0 / 32.0).abs() < 1e-12);
    }
}
