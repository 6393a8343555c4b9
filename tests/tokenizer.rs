//! The vocabulary is saved as a Hugging Face `tokenizer.json` and read back; the `tokenizers`
//! library itself reads it and agrees with textgan's encoding.

use std::path::Path;

use textgan::data::corpus::{read_lines, SEQ_LEN};
use textgan::data::vocab::{Vocab, PAD, UNK};
use tokenizers::Tokenizer;

#[test]
fn tokenizer_json_round_trips_and_matches_the_tokenizers_library() {
    let lines =
        read_lines(&Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt")).unwrap();
    let vocab = Vocab::build(&lines, 2048).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tokenizer.json");
    std::fs::write(&path, vocab.to_json(&path).unwrap()).unwrap();

    // textgan reads back exactly what it wrote.
    assert_eq!(Vocab::load(&path).unwrap(), vocab);

    // The tokenizers library reads it, and encodes and decodes like textgan does.
    let tok = Tokenizer::from_file(&path).unwrap();
    assert_eq!(tok.get_vocab_size(true), vocab.len());
    for line in lines.iter().take(50) {
        let ours = vocab.encode(line);
        let theirs = tok.encode(line.as_str(), false).unwrap();
        let n = line.chars().count();
        assert_eq!(theirs.get_ids(), &ours[..n], "{line:?}");
        assert!(ours[n..].iter().all(|&id| id == PAD));
        assert_eq!(&tok.decode(theirs.get_ids(), false).unwrap(), line);
        assert_eq!(&vocab.decode(&ours), line);
    }
    // Characters outside the vocabulary are unknown to both.
    let theirs = tok.encode("a\u{263A}", false).unwrap();
    assert_eq!(theirs.get_ids(), &[vocab.encode("a")[0], UNK]);
    assert_eq!(vocab.encode("a\u{263A}")[1], UNK);
    assert_eq!(vocab.encode("")[..], [PAD; SEQ_LEN]);
}

#[test]
fn a_damaged_tokenizer_json_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tokenizer.json");
    let vocab = Vocab::build(&["abc".to_string()], 10).unwrap();
    std::fs::write(&path, vocab.to_json(&path).unwrap()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = Vocab::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("tokenizer.json: not a valid tokenizer.json"),
        "{err}"
    );
    // Valid JSON tokenizer whose ids do not start with pad and unk.
    std::fs::write(&path, text.replace("\"<pad>\": 0", "\"<pad>\": 7")).unwrap();
    assert!(Vocab::load(&path).is_err());
}
