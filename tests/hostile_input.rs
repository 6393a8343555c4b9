//! Hostile corpora: arbitrary bytes through the corpus reader and the vocabulary builder never
//! panic; every rejection is a one-line error naming the file; every acceptance encodes into
//! the vocabulary, and the odd-but-valid corpora below train.

use std::path::Path;

use candle_core::Device;
use proptest::prelude::*;
use textgan::data::corpus::{parse_lines, Corpus, SEQ_LEN};
use textgan::data::vocab::Vocab;
use textgan::train::settings::TrainOptions;
use textgan::train::start::prepare;

/// Bytes that look like text gone wrong: ASCII, line ends (LF, CRLF, lone CR), NULs, tabs,
/// multi-byte characters (accents, combining marks, emoji, CJK) and bytes invalid in UTF-8.
fn texty_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => "[a-zA-Z ]{1,12}".prop_map(String::into_bytes),
        2 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(b"\t  ".to_vec()),
        1 => Just("e\u{301}\u{1F600}\u{4E2D}\u{200D}".as_bytes().to_vec()),
        1 => Just(vec![0u8]),
        1 => prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(piece, 0..200).prop_map(|v| v.concat())
}

fn check(bytes: &[u8], max_vocab: usize) {
    let path = Path::new("corpus.txt");
    match parse_lines(path, bytes) {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("corpus.txt: "), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
        Ok(lines) => {
            assert!(!lines.is_empty());
            match Corpus::split(path, lines, 0, 2) {
                Err(e) => assert!(e.to_string().starts_with("corpus.txt: only "), "{e}"),
                Ok(corpus) => {
                    let vocab = Vocab::build(corpus.all_lines(), max_vocab).unwrap();
                    assert!(vocab.len() <= max_vocab);
                    for line in corpus.all_lines() {
                        assert!(line.chars().count() <= SEQ_LEN);
                        let ids = vocab.encode(line);
                        assert!(ids.iter().all(|&i| (i as usize) < vocab.len()));
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn corpus_reader_and_vocabulary_never_panic_on_texty_bytes(bytes in texty_bytes(), max_vocab in 3usize..40) {
        check(&bytes, max_vocab);
    }

    #[test]
    fn corpus_reader_and_vocabulary_never_panic_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes, 2048);
    }
}

#[test]
fn a_single_100_mb_line_is_refused_clearly() {
    let mut bytes = vec![b'a'; 100 << 20];
    bytes.push(b'\n');
    let lines = parse_lines(Path::new("big.txt"), &bytes).unwrap();
    let err = Corpus::split(Path::new("big.txt"), lines, 0, 64)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("big.txt: only 1 usable lines"), "{err}");
}

/// Odd but valid corpora are accepted and train (one iteration, tiny model).
#[test]
fn odd_but_valid_corpora_train() {
    let many = |f: &dyn Fn(usize) -> String| (0..40).map(f).collect::<Vec<_>>().join("\n");
    let cases = [
        ("crlf", many(&|i| format!("line {i} ends in crlf\r"))),
        (
            "emoji",
            many(&|i| format!("{i} \u{1F600} caf\u{E9} e\u{301} \u{4E2D}\u{6587}")),
        ),
        (
            "long-lines",
            many(&|i| format!("{i} {}", "word ".repeat(50))),
        ),
        // 40 lines of distinct characters: far more than --max-vocab 10, the rest become unk.
        (
            "big-vocab",
            many(&|i| {
                char::from_u32(0x4E00 + i as u32 * 7)
                    .unwrap()
                    .to_string()
                    .repeat(3)
            }),
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in cases {
        let path = tmp.path().join(format!("{name}.txt"));
        std::fs::write(&path, &text).unwrap();
        let opts = TrainOptions {
            corpus: Some(path),
            out: Some(tmp.path().join(name)),
            dim: Some(4),
            batch: Some(8),
            critic_iters: Some(1),
            iters: Some(1),
            max_vocab: Some(10),
            ..TrainOptions::default()
        };
        let mut trainer = prepare(&opts, &Device::Cpu).unwrap();
        assert!(trainer.vocab().len() <= 10, "{name}");
        let stats = trainer.train_iteration().unwrap();
        assert!(stats.critic_loss.is_finite(), "{name}");
        trainer.save().unwrap();
    }
}
