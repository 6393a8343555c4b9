//! Vocabulary: `<pad>`, `<unk>`, then the corpus's characters by frequency (the paper's code
//! keeps the most frequent characters, at most 2048). Saved as a Hugging Face `tokenizer.json`
//! (a character-level BPE model without merges), so other tools can read it.

use std::collections::HashMap;
use std::path::Path;

use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::bpe::BPE;
use tokenizers::{AddedToken, Tokenizer};

use crate::data::corpus::SEQ_LEN;
use crate::error::{Error, Result};

pub const PAD: u32 = 0;
pub const UNK: u32 = 1;
pub const PAD_TOKEN: &str = "<pad>";
pub const UNK_TOKEN: &str = "<unk>";
/// Shown in decoded text for a character outside the vocabulary.
pub const UNK_CHAR: char = '\u{FFFD}';

#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    /// `chars[i]` is the character of token `i + 2` (tokens 0 and 1 are pad and unk).
    chars: Vec<char>,
    index: HashMap<char, u32>,
}

impl Vocab {
    /// Build from lines: characters by descending frequency (ties in character order),
    /// keeping at most `max_vocab` tokens in all, pad and unk included.
    pub fn build<'a>(
        lines: impl IntoIterator<Item = &'a String>,
        max_vocab: usize,
    ) -> Result<Self> {
        if max_vocab < 3 {
            return Err(Error::Config(format!(
                "--max-vocab {max_vocab}: must be at least 3 (pad, unk and one character)"
            )));
        }
        let mut counts: HashMap<char, u64> = HashMap::new();
        for line in lines {
            for c in line.chars() {
                *counts.entry(c).or_default() += 1;
            }
        }
        let mut by_freq: Vec<(char, u64)> = counts.into_iter().collect();
        by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        by_freq.truncate(max_vocab - 2);
        Ok(Self::from_chars(
            by_freq.into_iter().map(|(c, _)| c).collect(),
        ))
    }

    fn from_chars(chars: Vec<char>) -> Self {
        let index = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u32 + 2))
            .collect();
        Vocab { chars, index }
    }

    /// Number of tokens, pad and unk included (the model's V).
    pub fn len(&self) -> usize {
        self.chars.len() + 2
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Token ids of a line, cut to `SEQ_LEN` characters and padded with `PAD`.
    pub fn encode(&self, line: &str) -> [u32; SEQ_LEN] {
        let mut ids = [PAD; SEQ_LEN];
        for (slot, c) in ids.iter_mut().zip(line.chars()) {
            *slot = self.index.get(&c).copied().unwrap_or(UNK);
        }
        ids
    }

    /// Text of token ids. The first pad ends the text (real lines are never followed by
    /// anything after their padding); unknown tokens show as U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .take_while(|&&id| id != PAD)
            .map(|&id| self.token_char(id))
            .collect()
    }

    /// Like [`decode`](Self::decode) but keeps the padding, shown as `pad`.
    pub fn decode_padded(&self, ids: &[u32], pad: char) -> String {
        ids.iter()
            .map(|&id| if id == PAD { pad } else { self.token_char(id) })
            .collect()
    }

    fn token_char(&self, id: u32) -> char {
        match id {
            PAD | UNK => UNK_CHAR,
            _ => self.chars.get(id as usize - 2).copied().unwrap_or(UNK_CHAR),
        }
    }

    /// The Hugging Face tokenizer equivalent to this vocabulary.
    pub fn to_tokenizer(&self) -> Result<Tokenizer> {
        let mut vocab: ahash::AHashMap<String, u32> = ahash::AHashMap::new();
        vocab.insert(PAD_TOKEN.to_string(), PAD);
        vocab.insert(UNK_TOKEN.to_string(), UNK);
        for (i, c) in self.chars.iter().enumerate() {
            vocab.insert(c.to_string(), i as u32 + 2);
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, vec![])
            .unk_token(UNK_TOKEN.to_string())
            .build()
            .map_err(|e| Error::Config(format!("cannot build tokenizer: {e}")))?;
        let mut tok = Tokenizer::new(bpe);
        tok.with_decoder(Some(Fuse::new()));
        tok.add_special_tokens([
            AddedToken::from(PAD_TOKEN, true),
            AddedToken::from(UNK_TOKEN, true),
        ])
        .map_err(|e| Error::Config(format!("cannot build tokenizer: {e}")))?;
        Ok(tok)
    }

    /// The text of `tokenizer.json` (`path` names the file in an error).
    pub fn to_json(&self, path: &Path) -> Result<String> {
        self.to_tokenizer()?
            .to_string(true)
            .map_err(|e| Error::checkpoint(path, format!("cannot serialise tokenizer: {e}")))
    }

    /// Read a `tokenizer.json` written from [`to_json`](Self::to_json).
    pub fn load(path: &Path) -> Result<Self> {
        let tok = Tokenizer::from_file(path)
            .map_err(|e| Error::checkpoint(path, format!("not a valid tokenizer.json: {e}")))?;
        let vocab = tok.get_vocab(true);
        let bad = |msg: String| Error::checkpoint(path, msg);
        if vocab.get(PAD_TOKEN) != Some(&PAD) || vocab.get(UNK_TOKEN) != Some(&UNK) {
            return Err(bad(format!("expected {PAD_TOKEN} = 0 and {UNK_TOKEN} = 1")));
        }
        let n = vocab.len();
        let mut chars = vec![None; n.saturating_sub(2)];
        for (token, id) in vocab {
            if id == PAD || id == UNK {
                continue;
            }
            let mut it = token.chars();
            let (Some(c), None) = (it.next(), it.next()) else {
                return Err(bad(format!("token {token:?} is not a single character")));
            };
            match chars.get_mut(id as usize - 2) {
                Some(slot @ None) => *slot = Some(c),
                _ => {
                    return Err(bad(format!(
                        "token ids are not 0..{n} without gaps (id {id})"
                    )))
                }
            }
        }
        let chars: Option<Vec<char>> = chars.into_iter().collect();
        let chars = chars.ok_or_else(|| bad("token ids have gaps".to_string()))?;
        Ok(Self::from_chars(chars))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn characters_are_ordered_by_frequency_and_capped() {
        let v = Vocab::build(&lines(&["aaab", "bbc", "a"]), 4).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v.encode("abc")[..3], [2, 3, UNK]);
        assert_eq!(v.encode("ab")[2..], [PAD; SEQ_LEN - 2]);
    }

    #[test]
    fn decode_stops_at_padding_and_marks_unknown() {
        let v = Vocab::build(&lines(&["hello world"]), 100).unwrap();
        let ids = v.encode("hello zz");
        assert_eq!(v.decode(&ids), "hello \u{FFFD}\u{FFFD}");
        assert_eq!(v.decode(&v.encode("hello")), "hello");
        assert_eq!(v.decode_padded(&v.encode("he"), '`').len(), SEQ_LEN);
    }

    #[test]
    fn too_small_max_vocab_is_refused() {
        assert!(Vocab::build(&lines(&["a"]), 2).is_err());
    }
}
