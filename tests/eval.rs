//! The metrics against an independent implementation: `textgan eval` must give the numbers the
//! peer script `textgan_eval.py score` gives on the same pair of files, and the Markov baseline
//! must behave like one.

use std::path::{Path, PathBuf};

use candle_core::Device;
use textgan::quality::markov::MarkovChain;
use textgan::quality::metrics::Reference;
use textgan::sample::eval::{evaluate, read_samples, EvalOptions, Source};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// `python3 textgan_eval.py score --samples eval_samples.txt --corpus eval_corpus.txt`
/// printed these (the independent implementation of the paper's monitor).
const PEER_JS: [f64; 4] = [
    0.06095646676392958,
    0.15444205621964807,
    0.26066638480967996,
    0.32382483025653275,
];
const PEER_VALID_WORD_RATE: f64 = 0.921875;
const PEER_UNIQUE_RATE: f64 = 0.9285714285714286;
const PEER_NOVELTY: f64 = 0.7142857142857143;

#[test]
fn eval_of_a_samples_file_matches_the_independent_script() {
    let report = evaluate(
        &EvalOptions {
            source: Source::Samples(data("eval_samples.txt")),
            corpus: Some(data("eval_corpus.txt")),
            n: 640,
            seed: 0,
        },
        &Device::Cpu,
        &mut |_: &str| {},
    )
    .unwrap();
    let s = report.scores;
    assert_eq!(s.n_samples, 14);
    assert_eq!(report.corpus_lines, 20);
    for (n, (ours, peer)) in s.js.iter().zip(PEER_JS).enumerate() {
        assert!(
            (ours - peer).abs() < 1e-12,
            "JSD-{}: {ours} vs {peer}",
            n + 1
        );
    }
    assert!((s.valid_word_rate.unwrap() - PEER_VALID_WORD_RATE).abs() < 1e-12);
    assert!((s.unique_rate - PEER_UNIQUE_RATE).abs() < 1e-12);
    assert!((s.novelty - PEER_NOVELTY).abs() < 1e-12);
    let json = serde_json::to_value(&report).unwrap();
    // One key scheme for the JSD everywhere: `js`, JSD-1..4, as in metrics.jsonl.
    for (i, &v) in s.js.iter().enumerate() {
        assert_eq!(json["js"][i].as_f64(), Some(v), "{json}");
        assert!(json["floor"]["js"][i].is_number(), "{json}");
    }
    assert!(json.get("js1").is_none(), "{json}");
    for key in ["valid_word_rate", "unique_rate", "novelty"] {
        assert!(json[key].is_number(), "{key} missing in {json}");
        assert!(
            json["floor"][key].is_number(),
            "floor.{key} missing in {json}"
        );
    }
}

#[test]
fn samples_file_keeps_empty_samples_and_strips_line_ends() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.txt");
    std::fs::write(&p, "a\r\n\nb\n").unwrap();
    assert_eq!(read_samples(&p).unwrap(), vec!["a", "", "b"]);
    std::fs::write(&p, "").unwrap();
    let err = read_samples(&p).unwrap_err().to_string();
    assert!(err.contains("s.txt: has no samples"), "{err}");
}

#[test]
fn a_longer_markov_context_tracks_the_corpus_more_closely() {
    let lines = textgan::data::corpus::read_lines(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt"),
    )
    .unwrap();
    let words = textgan::data::corpus::words_of_lines(&lines);
    let reference = Reference::new(&lines, words);
    let js4 = |order| {
        reference
            .score(&MarkovChain::fit(&lines, order).sample(640, 0))
            .js[3]
    };
    let (j0, j2, j4) = (js4(0), js4(2), js4(4));
    assert!(j0 > j2 && j2 > j4, "JSD-4 by order 0/2/4: {j0} {j2} {j4}");
    // Order 4 on 300 short lines mostly copies 4-grams that exist: close to the corpus.
    assert!(j4 < 0.5 * j0, "{j4} vs {j0}");
}

#[test]
fn eval_names_the_characters_the_samples_never_write() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    let samples = dir.path().join("samples.txt");
    // 'k' is a tenth of the corpus's letters; the samples spell every word without it.
    std::fs::write(
        &corpus,
        "like a kite\nmake a cake\nthe lake\nto bake\n".repeat(5),
    )
    .unwrap();
    std::fs::write(
        &samples,
        "lie a ite\nmae a cae\nthe lae\nto bae\n".repeat(5),
    )
    .unwrap();
    let report = evaluate(
        &EvalOptions {
            source: Source::Samples(samples.clone()),
            corpus: Some(corpus),
            n: 640,
            seed: 0,
        },
        &Device::Cpu,
        &mut |_: &str| {},
    )
    .unwrap();
    assert_eq!(report.missing.chars, vec!['k']);
    // 6 of the 37 characters of a round (newlines aside), in 6 of its 10 words (like, kite,
    // make, cake, lake, bake).
    assert!(
        (report.missing.char_share - 6.0 / 37.0).abs() < 1e-12,
        "{:?}",
        report.missing
    );
    assert!(
        (report.missing.word_share - 6.0 / 10.0).abs() < 1e-12,
        "{:?}",
        report.missing
    );
    let table = report.to_table();
    let line = "never written     'k' (16.2% of the corpus's characters, in 60.0% of its words";
    assert!(table.contains(line), "{table}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["missing"]["chars"], serde_json::json!(["k"]), "{json}");

    // Samples that write 'k' but not 'm', 'c', 'o' or 'b': each of those is 1 of the corpus's
    // 37 characters a round, so 95 sample characters would hold each 2.6 times, too few to
    // call it dropped rather than rare.
    std::fs::write(&samples, "like a kite\nthe lake\n".repeat(5)).unwrap();
    let report = evaluate(
        &EvalOptions {
            source: Source::Samples(samples),
            corpus: Some(dir.path().join("corpus.txt")),
            n: 640,
            seed: 0,
        },
        &Device::Cpu,
        &mut |_: &str| {},
    )
    .unwrap();
    assert!(report.missing.chars.is_empty(), "{:?}", report.missing);
    assert!(
        !report.to_table().contains("never written"),
        "{}",
        report.to_table()
    );
}
