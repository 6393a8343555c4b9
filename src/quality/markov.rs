//! A character n-gram (Markov) model of a corpus: the simple baseline a text GAN's numbers are
//! read against. Lines are padded to `SEQ_LEN` exactly as the metrics see them, so the chain
//! also learns where lines end; each character is drawn from the counts that followed the
//! longest context of up to `order` characters seen in the corpus (backing off to shorter ones).

use std::collections::HashMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::data::corpus::SEQ_LEN;
use crate::quality::metrics::{pad_line, PAD_CHAR};
use crate::streams::Stream;

/// Stands before the first character of a line, so the first characters have a context.
const START: char = '\u{2}';

/// The most context characters a chain may condition on.
pub const MAX_ORDER: usize = 16;

/// The characters that followed one context, with cumulative counts (for sampling by one
/// uniform draw).
type Continuations = (Vec<char>, Vec<u64>);

#[derive(Debug, Clone)]
pub struct MarkovChain {
    order: usize,
    /// `tables[k]`: context of `k` characters → its continuations.
    tables: Vec<HashMap<Vec<char>, Continuations>>,
}

impl MarkovChain {
    /// Count the transitions of `lines` (cut / padded to `SEQ_LEN`). `order` is 0..=`MAX_ORDER`.
    pub fn fit<S: AsRef<str>>(lines: &[S], order: usize) -> Self {
        let order = order.min(MAX_ORDER);
        let mut counts: Vec<HashMap<Vec<char>, HashMap<char, u64>>> =
            vec![HashMap::new(); order + 1];
        for line in lines {
            let mut text = vec![START; order];
            text.extend(pad_line(line.as_ref()));
            for i in order..text.len() {
                for (k, table) in counts.iter_mut().enumerate() {
                    *table
                        .entry(text[i - k..i].to_vec())
                        .or_default()
                        .entry(text[i])
                        .or_default() += 1;
                }
            }
        }
        let tables = counts
            .into_iter()
            .map(|table| {
                table
                    .into_iter()
                    .map(|(ctx, next)| {
                        let mut next: Vec<(char, u64)> = next.into_iter().collect();
                        next.sort_unstable(); // a fixed order: sampling depends on the seed only
                        let mut total = 0;
                        let cum = next
                            .iter()
                            .map(|&(_, c)| {
                                total += c;
                                total
                            })
                            .collect();
                        (ctx, (next.into_iter().map(|(ch, _)| ch).collect(), cum))
                    })
                    .collect()
            })
            .collect();
        MarkovChain { order, tables }
    }

    /// `n` lines of `SEQ_LEN` characters, padding stripped, from `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<String> {
        let mut rng = Stream::Markov.rng(seed);
        (0..n)
            .map(|_| {
                let mut text = vec![START; self.order];
                for _ in 0..SEQ_LEN {
                    let ch = self.next_char(&text, &mut rng);
                    text.push(ch);
                }
                let line: String = text[self.order..].iter().collect();
                line.trim_end_matches(PAD_CHAR).to_string()
            })
            .collect()
    }

    fn next_char(&self, text: &[char], rng: &mut ChaCha8Rng) -> char {
        for k in (0..=self.order).rev() {
            if let Some((chars, cum)) = self.tables[k].get(&text[text.len() - k..]) {
                let total = cum.last().copied().unwrap_or(0);
                if total == 0 {
                    continue;
                }
                let r = rng.random_range(0..total);
                let i = cum.partition_point(|&c| c <= r);
                return chars[i.min(chars.len() - 1)];
            }
        }
        PAD_CHAR // only for a chain fitted on no lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deterministic_corpus_is_reproduced_and_sampling_follows_the_seed() {
        // Every context of order 3 has one continuation: the chain can only copy the line.
        let chain = MarkovChain::fit(&["abcdefg"], 3);
        assert_eq!(chain.sample(3, 1), vec!["abcdefg"; 3]);
        let lines: Vec<String> = (0..50).map(|i| format!("w{} x{}", i % 7, i % 5)).collect();
        let chain = MarkovChain::fit(&lines, 2);
        assert_eq!(chain.sample(20, 9), chain.sample(20, 9));
        assert_ne!(chain.sample(20, 9), chain.sample(20, 10));
    }

    #[test]
    fn order_zero_draws_characters_by_frequency() {
        // Unigrams of "ab" padded: a 1, b 1, pad 30 of 32.
        let chain = MarkovChain::fit(&["ab"], 0);
        let text: String = chain.sample(400, 3).concat();
        let (a, b) = (text.matches('a').count(), text.matches('b').count());
        // 400 × 32 draws at p = 1/32 each: 400 expected, sd ≈ 20.
        assert!(
            (300..500).contains(&a) && (300..500).contains(&b),
            "{a} {b}"
        );
    }
}
